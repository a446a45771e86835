"""What the server does, between the handlers (which speak HTTP) and storage (which speaks
SQL): the sync round, snapshots, REST writes over the apply path, the dashboard summary,
and the background services (the tenant writer, live fan-out, the outbox relay)."""
