"""The model of the work: sources and their keys, parts, checksums, jobs, and results."""
