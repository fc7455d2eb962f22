"""Signed BMS snapshots: the envelope schema and the plausibility rules (pure code, no database)."""
