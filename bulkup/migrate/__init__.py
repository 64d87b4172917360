"""Manifest-driven migrations: manifests, loading, the journal, and resuming."""
