// Kernel tests move the test process between cgroups and attach programs to them: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
