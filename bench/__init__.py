"""bulkup's benchmarks: each runs as ``python -m bench.NAME`` from the repository root."""
