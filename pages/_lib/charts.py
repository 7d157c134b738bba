"""Charts as the pages show them: one place that sets how a figure is drawn and exported.

Every chart's camera button (top right, on hover) downloads the chart, named after it: a PNG at
three times the on-screen resolution (ready to paste into a slide) or an SVG (vector, for papers),
as chosen once in the sidebar (:func:`export_format_picker`). The HTML report embeds the same
figures (``monitor.report``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

EXPORT_SCALE = 3
"""PNG export resolution relative to the screen (3x: sharp on a projected slide)."""
EXPORT_FORMATS = ("png", "svg")
FORMAT_KEY = "charts.export_format"


def export_format() -> str:
    """The session's chart download format (``png`` unless chosen otherwise in the sidebar)."""
    fmt = st.session_state.get(FORMAT_KEY, "png")
    return fmt if fmt in EXPORT_FORMATS else "png"


def export_format_picker() -> None:
    """The sidebar switch between PNG and SVG downloads of every chart."""
    st.segmented_control("Chart downloads", EXPORT_FORMATS, format_func=str.upper, key=FORMAT_KEY, default="png",
                         help="What each chart's camera button saves: PNG (3x resolution, for slides) or SVG (vector).")


def export_config(name: str) -> dict[str, Any]:
    """The Plotly ``config`` of a chart named ``name`` (the downloaded file is ``<name>.png`` or ``.svg``)."""
    fmt = export_format()
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": name, **({"scale": EXPORT_SCALE} if fmt == "png" else {})},
        "modeBarButtonsToRemove": ["lasso2d"],
    }


def chart(fig: Any, *, key: str, name: str, **kwargs: Any) -> Any:
    """``st.plotly_chart`` with the export settings; returns its selection event when ``on_select`` is given.

    Log axes get their labelled ticks again here (``apply_log_axes`` is idempotent): a page may add
    traces to a figure after it was built, and every log axis the app shows must stay readable."""
    from monitor.report.log_axis import apply_log_axes

    return st.plotly_chart(apply_log_axes(fig), key=key, config=export_config(name), **kwargs)
