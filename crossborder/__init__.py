"""Data leaving the jurisdiction: transfer approvals, the one export gate and its log,
and the scrubber and scanner for anonymised exports."""
