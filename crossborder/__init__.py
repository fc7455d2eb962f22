"""Data leaving the jurisdiction: transfer approvals, the one export gate, its log, and the scrubber/scanner for anonymised exports."""
