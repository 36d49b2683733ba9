"""JSON Schemas of the STAC extensions geobase writes, for offline validation (see README.md)."""
