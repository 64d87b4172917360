"""Sending: worker processes, their connections and requests, and the send engines."""
