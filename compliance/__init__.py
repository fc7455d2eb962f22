"""The five-point checklist per facility and organisation, from real queries."""
