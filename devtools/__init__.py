"""Development tooling (not installed with bulkup): a local S3 server, a kTLS guest kernel,
a local Ray cluster, and ``make demo``."""
