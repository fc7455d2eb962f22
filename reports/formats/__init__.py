"""Report formats: each writes one file for a resolved, authorised scope (see `base.ReportContext`)."""
