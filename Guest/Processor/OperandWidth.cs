using System.Runtime.CompilerServices;

namespace VmFt.Guest.Processor;

/// <summary>
/// Operand size as a type, so one generic handler serves the 8-, 16- and 32-bit forms of an
/// instruction and the JIT specializes it per width (the constants fold away).
/// </summary>
internal interface IOperandWidth
{
    static abstract int Bits { get; }
    static abstract uint Mask { get; }
    static abstract uint Sign { get; }
    static abstract uint GetReg(Cpu c, int index);
    static abstract void SetReg(Cpu c, int index, uint value);
    static abstract uint ReadLinear(Cpu c, uint linear);
    static abstract void WriteLinear(Cpu c, uint linear, uint value);
}

internal struct W8 : IOperandWidth
{
    public static int Bits => 8;
    public static uint Mask => 0xFF;
    public static uint Sign => 0x80;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetReg(Cpu c, int index) => c.GetReg8(index);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetReg(Cpu c, int index, uint value) => c.SetReg8(index, (byte)value);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadLinear(Cpu c, uint linear) => c.ReadLinear8(linear);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLinear(Cpu c, uint linear, uint value) => c.WriteLinear8(linear, (byte)value);
}

internal struct W16 : IOperandWidth
{
    public static int Bits => 16;
    public static uint Mask => 0xFFFF;
    public static uint Sign => 0x8000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetReg(Cpu c, int index) => (ushort)c.R[index];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetReg(Cpu c, int index, uint value) => c.R[index] = (c.R[index] & 0xFFFF_0000) | (ushort)value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadLinear(Cpu c, uint linear) => c.ReadLinear16(linear);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLinear(Cpu c, uint linear, uint value) => c.WriteLinear16(linear, (ushort)value);
}

internal struct W32 : IOperandWidth
{
    public static int Bits => 32;
    public static uint Mask => 0xFFFF_FFFF;
    public static uint Sign => 0x8000_0000;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetReg(Cpu c, int index) => c.R[index];
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetReg(Cpu c, int index, uint value) => c.R[index] = value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ReadLinear(Cpu c, uint linear) => c.ReadLinear32(linear);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLinear(Cpu c, uint linear, uint value) => c.WriteLinear32(linear, value);
}
