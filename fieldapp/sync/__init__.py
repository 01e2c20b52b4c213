"""Sync bundles: export on the device, verify anywhere, merge at the district (SPEC §5–§6)."""
