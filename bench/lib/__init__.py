"""What the benchmarks share: the tools compared, data sets, endpoints, links, measuring, results."""
