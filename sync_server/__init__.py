"""The PostgreSQL-backed sync service."""
