"""HTML building blocks of the report: the stylesheet, escaping, number formatting, tables and
figure embedding. Every cell passed to :func:`table` must already be escaped with :func:`esc`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..analysis.samplesize import sample_size_text

__all__ = ["CSS", "esc", "mark_quote", "fmt", "fmt_ci", "table", "flatten", "FigureEmbedder"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em;border-radius:4px}
.warning{background:#fdecea;border:1px solid #e0a0a0;padding:.5em 1em;border-radius:4px}
.excerpt{border-left:3px solid #ff7f0e;padding:.3em .8em;margin:.8em 0;background:#fafafa}
.ctx{color:#777}.meta{color:#555;font-size:.85em}mark{background:#ffe08a}
.fig{margin:1em 0}.ci{color:#666;white-space:nowrap;font-size:.9em}.note{color:#666;font-size:.9em}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def mark_quote(text: str, quote: str | None) -> str:
    """Escaped ``text`` with the first case-insensitive occurrence of ``quote`` in ``<mark>``."""
    text = "" if text is None else str(text)
    q = (quote or "").strip()
    i = text.lower().find(q.lower()) if q else -1
    if i < 0:
        return html.escape(text)
    return html.escape(text[:i]) + "<mark>" + html.escape(text[i : i + len(q)]) + "</mark>" + html.escape(text[i + len(q) :])


def fmt(x: Any, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def fmt_ci(r: dict[str, Any] | None) -> tuple[str, str]:
    """An AUROC record as (point, "[lo, hi] · n = 80 + 80"): the class sizes sit beside every AUROC."""
    if not r:
        return "n/a", ""
    lo, hi = r.get("lo"), r.get("hi")
    ci = "" if lo is None else f"[{fmt(lo)}, {fmt(hi)}]"
    if r.get("n_pos") is not None and r.get("n_neg") is not None:
        ci = " · ".join(x for x in (ci, sample_size_text(r["n_pos"], r["n_neg"])) if x)
    return fmt(r.get("auroc")), ci


def table(header: list[str], rows: list[list[str]], num_cols: set[int] = frozenset()) -> str:
    """Cells must already be escaped."""
    th = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i in num_cols else ''}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, value) rows."""
    if isinstance(d, dict) and d:
        out: list[tuple[str, Any]] = []
        for k, v in d.items():
            out += flatten(v, f"{prefix}{k}.")
        return out
    return [(prefix.rstrip("."), d)]


class FigureEmbedder:
    """Collects figures as HTML fragments with stable div ids."""

    def __init__(self) -> None:
        self.n = 0

    def html(self, fig: Any, caption: str = "") -> str:
        import plotly.io as pio

        self.n += 1
        div = pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=f"fig-{self.n}",
                          config={"displaylogo": False, "responsive": True}, default_height="460px")
        cap = f"<p class=note>{caption}</p>" if caption else ""
        return f"<div class=fig>{div}{cap}</div>"
