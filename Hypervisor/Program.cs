using VmFt.Hypervisor.Cli;

return VmftCommand.Run(args);
