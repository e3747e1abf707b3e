"""Data-parallel training on the frameworks' own distributed engines: the job a rank runs, how a launch is
planned and started (through the launcher a framework's registry entry names), the proof that a data-parallel
step computes what one process computes, and the scaling measurements.

Nothing here names a framework: each framework's data parallelism lives in its adapter package and is found
through ``FrameworkInfo.data_parallel``.
"""
