"""Handlers of the integration REST API under /api/v1 (pre-orders, flows, partners,
products, events, summary, connectors) and of its documentation. Importing a module
declares its operations (`operations.py`)."""
