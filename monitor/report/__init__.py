"""Stage 8, what a reviewer sees: Plotly figures shared by the app and the HTML report, and the
self-contained report itself. ``figures`` imports Plotly; import it explicitly
(``from monitor.report import figures``) so the rest of ``monitor`` stays Plotly-free.
"""

from __future__ import annotations

from .html import write_report, render_report, mark_quote

__all__ = [
    "write_report", "render_report", "mark_quote",
]
