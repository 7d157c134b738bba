"""Cached calls into :mod:`monitor.analysis` and the display joins of :mod:`pages._lib.tables`,
keyed by a run's :data:`~pages._lib.open_run.RunKey` (so any write to the run refreshes them).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages._lib.open_run import RunKey, load_run


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


@st.cache_data(max_entries=256, show_spinner="Computing…")
def _analysis(key: RunKey, fn: str, kwargs: tuple) -> Any:
    from monitor import analysis

    run = load_run(key)
    return getattr(analysis, fn)(run, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs})


@st.cache_data(max_entries=64, show_spinner="Computing the summary…")
def _summary(key: RunKey) -> dict[str, Any]:
    from monitor.analysis.cached import load_summary

    return load_summary(load_run(key))


def summary(key: RunKey) -> dict[str, Any]:
    """The run's default summary: the one cached in the run directory (``summary.json``) when it is
    current, else computed here (and never written: viewing a run does not change it)."""
    return _summary(key)


def analysis(key: RunKey, fn: str, **kwargs: Any) -> Any:
    """``monitor.analysis.<fn>(run, **kwargs)``, cached per run signature and arguments."""
    return _analysis(key, fn, tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())))


@st.cache_data(max_entries=64, show_spinner="Computing…")
def _glue(key: RunKey, fn: str, kwargs: tuple) -> Any:
    from pages._lib import tables as _tables

    return getattr(_tables, fn)(load_run(key), **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs})


def table(key: RunKey, fn: str, **kwargs: Any) -> Any:
    """``pages._lib.tables.<fn>(run, **kwargs)`` (joins for display), cached like :func:`analysis`."""
    return _glue(key, fn, tuple(sorted((k, _freeze(v)) for k, v in kwargs.items())))


# Big per-run joins (one row per CoT sentence) are shared read-only, like the run itself.
@st.cache_resource(max_entries=6, show_spinner="Indexing sentences…")
def _sentence_table(key: RunKey, phrase: str) -> pd.DataFrame:
    from pages._lib import tables as _tables

    return _tables.sentence_table(load_run(key), phrase)


@st.cache_resource(max_entries=6, show_spinner="Indexing the run…")
def _index(key: RunKey):
    from pages._lib.index import build_index

    return build_index(load_run(key))


def index(key: RunKey):
    """The run's :class:`pages._lib.index.RunIndex` (phrases, prompt labels, row positions)."""
    return _index(key)


def sentence_table(key: RunKey, phrase: str) -> pd.DataFrame:
    """One row per CoT sentence with its label, judge flag and the phrase's log-prob (do not mutate)."""
    return _sentence_table(key, phrase)
