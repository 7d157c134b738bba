"""Run-derived, user and URL text on a page: plain text, never Markdown.

Streamlit renders ``st.markdown``, ``st.caption``, alerts and widget labels as Markdown (plus its
own ``:red[...]``/``:material/...:`` directives and LaTeX), so a model id, phrase, prompt id, note
author, judge name or ``?run=`` value containing ``![x](https://host/p.png)`` would fetch an
external image, and ``[text](url)`` would be a live link. Every such value goes through :func:`md`
before it is put into Markdown; the rest of the string (the page's own wording) stays Markdown.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["md", "md_lines", "code"]

# CommonMark lets any ASCII punctuation be backslash-escaped; escaping all of it also breaks
# GFM autolinks (www., http://, emails), Streamlit directives (:red[...], :material/x:), emoji
# shortcodes and $LaTeX$.
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def md(value: Any, *, max_chars: int | None = None) -> str:
    """``value`` as a Markdown-inert string: punctuation escaped, newlines folded to spaces."""
    s = "" if value is None else str(value)
    s = " ".join(s.split()) if ("\n" in s or "\r" in s) else s
    if max_chars is not None and len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    return _PUNCT.sub(r"\\\1", s)


def md_lines(value: Any) -> str:
    """Like :func:`md` but keeping line breaks (as Markdown hard breaks)."""
    s = "" if value is None else str(value)
    return "  \n".join(md(line) for line in s.splitlines())


def code(value: Any) -> str:
    """``value`` as an inline Markdown code span that it cannot break out of (its backticks included)."""
    s = " ".join(("" if value is None else str(value)).split())
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"
