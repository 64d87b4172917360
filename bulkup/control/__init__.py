"""The control plane: the coordinator (order of work, messages, events) and its S3 calls."""
