"""Report services, split by concept; the public names are re-exported here."""

from reports.services.build import build_report, report_folder
from reports.services.downloads import expire_reports, open_download, run_report_expiry
from reports.services.requests import cancel_report, max_subjects, own_report, request_report

__all__ = [
    "build_report",
    "cancel_report",
    "expire_reports",
    "max_subjects",
    "open_download",
    "own_report",
    "report_folder",
    "request_report",
    "run_report_expiry",
]
