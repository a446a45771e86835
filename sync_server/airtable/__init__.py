"""The Airtable bridge: mirrors a tenant's pre-orders with one Airtable table, both ways,
within Airtable's API limits. See DESIGN.md, "Airtable bridge"."""
