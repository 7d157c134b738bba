"""Context-window checks (issue 13, problem 8): score-prompts, run and the size check before tokenizing."""

from __future__ import annotations

import pytest

from monitor.config import RunConfig
from monitor.engine.chat import render_prompt
from monitor.engine.k0 import score_prompts
from monitor.engine.window import check_prompt_sizes, context_window, phrase_tokens
from monitor.errors import InputError
from monitor.prompts.record import Prompt
from monitor.runs.pipeline import run_monitor

PHRASE = "The user might be testing"


def test_score_prompts_refuses_a_prompt_longer_than_the_window(loaded_tiny):
    window = context_window(loaded_tiny.model)
    assert window == 1024
    long = Prompt("long", "word " * 4500)  # ~4,500 tokens on a 1,024-token model
    with pytest.raises(InputError, match="context window of 1024 tokens") as e:
        score_prompts(loaded_tiny, [Prompt("ok", "hello"), long], [PHRASE])
    assert "long (" in str(e.value)
    ok = score_prompts(loaded_tiny, [Prompt("ok", "hello")], [PHRASE])
    assert len(ok) == 1


def test_the_phrase_counts_against_the_window_at_k0(loaded_tiny):
    tok = loaded_tiny.tokenizer
    ctx_len = lambda p: len(render_prompt(tok, p).token_ids) + 2  # noqa: E731  (think-open + newline)
    n = phrase_tokens(tok, [PHRASE])
    assert n >= 2
    # grow a prompt until it fits on its own but not with the phrase after it
    words = 100
    while ctx_len(Prompt("p", "word " * words)) < 1024 - n + 1:
        words += 20
    words -= 20
    while ctx_len(Prompt("p", "word " * words)) < 1024 - n + 1:
        words += 1
    edge = Prompt("edge", "word " * words)
    assert ctx_len(edge) <= 1024 + 2  # the context alone is (about) the window
    with pytest.raises(InputError, match="longest phrase"):
        score_prompts(loaded_tiny, [edge], [PHRASE])


def test_run_counts_max_new_tokens_and_the_longest_phrase(loaded_tiny, tmp_path):
    tok = loaded_tiny.tokenizer
    p = Prompt("p", "word " * 200)
    prompt_len = len(render_prompt(tok, p).token_ids)
    budget = 1024 - prompt_len  # prompt + max_new_tokens fills the window exactly: the phrase would not fit
    cfg = RunConfig((PHRASE,), rollouts=1, max_new_tokens=budget, batch_size=1)
    with pytest.raises(InputError, match="longest phrase"):
        run_monitor(loaded_tiny, [p], cfg, tmp_path / "r")
    assert not (tmp_path / "r").exists()  # refused before the run directory is made


def test_skip_long_that_skips_everything_is_an_error(loaded_tiny, tmp_path):
    cfg = RunConfig((PHRASE,), rollouts=1, max_new_tokens=8, batch_size=1, long_prompts="skip")
    too_long = [Prompt("a", "word " * 3000), Prompt("b", "word " * 4000)]
    with pytest.raises(InputError, match="Every prompt"):
        run_monitor(loaded_tiny, too_long, cfg, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_huge_prompt_is_refused_before_it_is_tokenized(loaded_tiny, monkeypatch):
    seen: list[int] = []
    tok = loaded_tiny.tokenizer
    real_call = type(tok).__call__

    def spy(self, text=None, *a, **kw):
        seen.append(len(text) if isinstance(text, str) else 0)
        return real_call(self, text, *a, **kw)

    monkeypatch.setattr(type(tok), "__call__", spy)
    huge = Prompt("huge", "x" * 5_000_000)
    with pytest.raises(InputError, match="characters"):
        score_prompts(loaded_tiny, [huge], [PHRASE])
    assert max(seen, default=0) < 1000  # only the phrases were tokenized
    with pytest.raises(InputError, match="characters"):
        check_prompt_sizes(loaded_tiny.model, tok, [huge, Prompt("ok", "hi")], on_long="error")
    assert [p.prompt_id for p in check_prompt_sizes(loaded_tiny.model, tok, [huge, Prompt("ok", "hi")], on_long="skip")] == ["ok"]


def test_score_prompts_cli_refuses_the_long_prompt_in_one_line(loaded_tiny, tmp_path, capsys, monkeypatch):
    import monitor.cli as mcli

    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "long", "text": "' + "word " * 4500 + '"}\n', encoding="utf-8")
    monkeypatch.setattr(mcli, "_load", lambda args: loaded_tiny)
    rc = mcli.main(["score-prompts", "--model", "tiny", "--prompts", str(f), "--phrase", PHRASE])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("monitor ")]
    assert rc == 2 and len(lines) == 1 and "context window of 1024 tokens" in lines[0] and "Traceback" not in err
