"""Charts as the pages show them: one place that sets how a figure is drawn and exported.

Every chart's camera button (top right, on hover) downloads a PNG at three times the on-screen
resolution, named after the chart, white background: ready to paste into a slide. The HTML report
embeds the same figures (``monitor.report``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

EXPORT_SCALE = 3
"""PNG export resolution relative to the screen (3x: sharp on a projected slide)."""


def export_config(name: str) -> dict[str, Any]:
    """The Plotly ``config`` of a chart named ``name`` (the downloaded file is ``<name>.png``)."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": name, "scale": EXPORT_SCALE},
        "modeBarButtonsToRemove": ["lasso2d"],
    }


def chart(fig: Any, *, key: str, name: str, **kwargs: Any) -> Any:
    """``st.plotly_chart`` with the export settings; returns its selection event when ``on_select`` is given."""
    return st.plotly_chart(fig, key=key, config=export_config(name), **kwargs)
