"""A per-run memo for intermediate tables that several analyses share.

``summarize`` asks for the same phrase's boundary scores a dozen times; filtering 1M score rows
costs ~0.1 s each time. The memo lives outside the :class:`~monitor.runs.store.Run` (a dict keyed by
``id(run)``, dropped by a weakref finalizer when the run is garbage-collected), so runs stay plain
data for pickling and hashing. Entries also record the identity of the tables they came from, so
replacing ``run.scores`` (or ``run.sentences``) invalidates them.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Hashable, TypeVar

from ..runs.store import Run

__all__ = ["memo"]

T = TypeVar("T")
_MEMO: dict[int, dict[Hashable, tuple[tuple[int, ...], Any]]] = {}


def _drop(key: int) -> None:
    _MEMO.pop(key, None)


def memo(run: Run, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per run, key and table identity; callers must not mutate the result."""
    rid = id(run)
    if rid not in _MEMO:
        _MEMO[rid] = {}
        weakref.finalize(run, _drop, rid)
    stamp = (id(run.prompts), id(run.rollouts), id(run.sentences), id(run.scores), len(run.scores), len(run.sentences))
    entry = _MEMO[rid].get(key)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    value = compute()
    _MEMO[rid][key] = (stamp, value)
    return value
