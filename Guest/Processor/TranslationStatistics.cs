namespace VmFt.Guest.Processor;

/// <summary>What the translating core has done so far: diagnostic figures, not machine state.</summary>
public readonly record struct TranslationStatistics(
    ulong BlocksTranslated,
    ulong BlocksShared,
    ulong InstructionsTranslated,
    ulong InstructionsInlined,
    ulong IlBytes,
    int LiveBlocks,
    int LiveInstructions,
    ulong BlocksInvalidated,
    ulong CacheFlushes,
    ulong BlockRuns,
    ulong InstructionsRunTranslated);
