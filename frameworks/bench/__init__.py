"""Benchmarking: the option table, the pytest plugin and its shipped benchmarks, timing, the result schema,
and the orchestration of benchmark processes."""
