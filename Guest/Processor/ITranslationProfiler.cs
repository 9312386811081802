namespace VmFt.Guest.Processor;

/// <summary>Watches block compilation from outside the guest (the guest itself reads no clock).</summary>
public interface ITranslationProfiler
{
    void CompileStarted();
    void CompileFinished(int instructions);
}
