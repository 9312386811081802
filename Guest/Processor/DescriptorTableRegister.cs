namespace VmFt.Guest.Processor;

/// <summary>GDTR or IDTR: a linear base and a 16-bit limit.</summary>
public record struct DescriptorTableRegister(uint Base, ushort Limit);
