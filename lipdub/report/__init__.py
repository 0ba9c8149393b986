"""`lipdub report`: one static, offline HTML page per run (see `page.write_report`)."""
from lipdub.report.page import ReportSummary, render_page, write_report

__all__ = ["ReportSummary", "render_page", "write_report"]
