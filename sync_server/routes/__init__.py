"""Handlers of the sync protocol and of the server's own endpoints: /sync, /snapshot,
/live, /auth, /debug/merkle, /healthz, /metrics. Importing a module declares its
operations (`operations.py`)."""
