"""Where senders run: local worker processes, or Ray actors across a cluster."""
