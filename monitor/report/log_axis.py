"""Log-axis ticks a reader can read without hovering: where they go and how they are written.

Plotly's own log ticks label one value per decade (``dtick=1``) and leave the rest as bare dashes,
so a box plot whose points span two decades showed a single label. Here the ticks are computed
from the data and written out explicitly (``tickvals``/``ticktext``):

- a label at every power of ten in the data's range;
- 1-2-5 in each decade when the data span less than two decades (fewer labels would leave
  stretches of the axis unreadable);
- always at least two labels: the range is widened to the neighbouring ticks when the data sit
  inside one gap (or are a single value);
- values in the form a reader knows: ``0.01``, ``0.2``, ``1`` down to 0.01, ``5e-3``, ``1e-12``
  below it (a probability of 0.00001 is hard to count; 1e-5 is not).

Pure and plotly-free except :func:`apply_log_axes`, which sets a figure's log axes in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

__all__ = ["LogTicks", "log_ticks", "tick_label", "apply_log_axes"]

PLAIN_FROM = 0.01
"""Smallest value written as a plain decimal (``0.01``); smaller values use ``1e-3`` notation."""
ONE_TWO_FIVE_BELOW = 2.0
"""Data spanning fewer decades than this get ticks at 1, 2 and 5 of each decade, not only at powers of ten."""
MAX_LABELS = 12
"""Above this many decades, label every second (third, ...) power of ten so labels do not collide."""


@dataclass(frozen=True)
class LogTicks:
    """Ticks for a log axis over positive data."""

    values: tuple[float, ...]
    """Tick positions in data units (not log10), ascending; at least two."""
    labels: tuple[str, ...]
    """One label per tick (see :func:`tick_label`)."""
    range: tuple[float, float]
    """Axis range as Plotly's log axes take it: log10 of the low and high ends, covering data and ticks."""


def tick_label(v: float) -> str:
    """``0.01``, ``0.5``, ``1``, ``20`` for values from 0.01 up; ``5e-3``, ``1e-12`` below.

    Only meant for tick values (a mantissa of 1, 2 or 5 times a power of ten)."""
    if v >= PLAIN_FROM:
        return f"{v:.12g}"
    exp = math.floor(math.log10(v) + 1e-9)
    mant = round(v / 10**exp, 6)
    return f"{mant:g}e{exp}"


def _positive(values: Iterable[Any]) -> np.ndarray:
    a = np.asarray([v for v in values if v is not None], dtype=float).ravel()
    return a[np.isfinite(a) & (a > 0)]


def log_ticks(values: Iterable[Any]) -> LogTicks | None:
    """Ticks for a log axis showing ``values`` (non-positive and non-finite ones ignored); None when none is left."""
    a = _positive(values)
    if not len(a):
        return None
    lo, hi = math.log10(float(a.min())), math.log10(float(a.max()))
    span = hi - lo
    mantissas = (1, 2, 5) if span < ONE_TWO_FIVE_BELOW else (1,)
    d0, d1 = math.floor(lo + 1e-9), math.ceil(hi - 1e-9)
    step = max(1, math.ceil((d1 - d0 + 1) / MAX_LABELS)) if mantissas == (1,) else 1
    cands = sorted(m * 10.0**d for d in range(d0 - 1, d1 + 2) for m in mantissas if (d % step == 0 or mantissas != (1,)))
    eps = 1e-9
    inside = [c for c in cands if lo - eps <= math.log10(c) <= hi + eps]
    # widen to the nearest tick on each side until two are labelled (one value, or data inside one gap)
    below = [c for c in cands if math.log10(c) < lo - eps]
    above = [c for c in cands if math.log10(c) > hi + eps]
    while len(inside) < 2 and (below or above):
        # take the side whose next tick is nearer the data, so the plot stays centred on its points
        if above and (not below or math.log10(above[0]) - hi <= lo - math.log10(below[-1])):
            inside.append(above.pop(0))
        else:
            inside.insert(0, below.pop())
    vals = tuple(inside)
    pad = 0.05 * max(span, 0.3)  # a margin so markers on the extreme values are not cut in half
    rng = (min(lo, math.log10(vals[0])) - pad, max(hi, math.log10(vals[-1])) + pad)
    return LogTicks(vals, tuple(tick_label(v) for v in vals), rng)


def _axis_data(fig: Any, axis: str) -> list[float]:
    """Every value a figure's traces put on its first x or y axis (``axis`` is ``"x"`` or ``"y"``)."""
    out: list[float] = []
    for tr in fig.data:
        vals = getattr(tr, axis, None)
        if vals is None:
            continue
        out.extend(np.asarray(vals, dtype=object).ravel().tolist())
    return [v for v in out if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)]


def apply_log_axes(fig: Any) -> Any:
    """Give each log-type main axis (``xaxis``, ``yaxis``) of a Plotly figure readable ticks; returns the figure.

    Idempotent, so both a figure's builder and the app's chart wrapper may call it; an axis the
    figure has no positive data for keeps Plotly's defaults."""
    for axis in ("x", "y"):
        lay = fig.layout[f"{axis}axis"]
        if lay.type != "log":
            continue
        ticks = log_ticks(_axis_data(fig, axis))
        if ticks is None:
            continue
        lay.update(tickmode="array", tickvals=list(ticks.values), ticktext=list(ticks.labels), range=list(ticks.range))
    return fig
