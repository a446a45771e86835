"""The integration REST API under /api/v1 (pre-orders, flows, partners, products, events,
summary), described by an OpenAPI document generated from its pydantic models."""
