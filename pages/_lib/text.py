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

# CommonMark lets any ASCII punctuation be backslash-escaped. Escaped: everything that opens
# Markdown inline syntax (links, images, emphasis, code, HTML, tables), Streamlit's directives
# (:red[...], :material/x:) and emoji shortcodes, and $LaTeX$. "-", "." and digits only start a
# block (a list) at the beginning of the value, so they are escaped there only: ids like
# "eval-003" stay readable.
_PUNCT = re.compile(r"([\\`*_{}\[\]()#+!|<>~$:@&=\"'^])")
# GFM autolink literals (http://, https://, www., emails, mailto:/xmpp:) are found by the
# browser's renderer even with the punctuation escaped (seen in Chromium: "https\://x" became a
# live link), so a WORD JOINER (U+2060, invisible, not a domain or e-mail character) is put where
# it breaks them: after "http"/"www" and before "@".
_WJ = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)(?=[:.])|(?=@)")
_LEAD = re.compile(r"^(\s*)(-|\d*\.)")  # a list item ("- x", "1. x") at the start of the value


def md(value: Any, *, max_chars: int | None = None) -> str:
    """``value`` as a Markdown-inert string: punctuation escaped, newlines folded to spaces."""
    s = "" if value is None else str(value)
    s = " ".join(s.split()) if ("\n" in s or "\r" in s) else s
    if max_chars is not None and len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    s = _PUNCT.sub(r"\\\1", _AUTOLINK.sub(lambda m: (m.group(1) or "") + _WJ, s))
    return _LEAD.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], s)


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
