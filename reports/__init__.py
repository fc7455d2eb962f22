"""Custody reports for auditors and regulators: built in the background, signed manifests,
logged downloads."""
