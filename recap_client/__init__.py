"""A Python client of the Recap sync protocol: a local replica with an outbox, and the
HTTP sync loop. Used by the integration tests, the benchmarks and the chaos suite; the
browser app implements the same steps in TypeScript."""

from .export import export_device
from .http import SyncClient, SyncError, SyncReport
from .replica import ClientReplica

__all__ = ["ClientReplica", "SyncClient", "SyncError", "SyncReport", "export_device"]
