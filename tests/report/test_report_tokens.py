"""The report's hover text names forced tokens by their strings when the run's tokenizer is here."""

from __future__ import annotations

import re

from monitor.report.html import render_report
from monitor.report.tokens import local_token_text, run_token_text
from monitor.runs.store import read_run
from monitor.runs.synthetic import make_synthetic_run


def test_report_hover_shows_token_strings_and_falls_back_to_ids(tmp_path):
    run = read_run(make_synthetic_run(tmp_path / "run", n_prompts=10, rollouts=2, sentences=(3, 5), seed=3))
    with_ids = render_report(run, n_boot=20)
    assert "tokens: id " in with_ids  # no tokenizer: ids
    named = render_report(run, n_boot=20, token_text=lambda ids: [f"<T{i}>" for i in ids])
    assert "tokens: id " not in named
    # Token strings are model text: escaped (Plotly renders a subset of HTML in hover text).
    hovers = re.findall(r"tokens: ([^\"]*)", named)
    assert hovers and all(re.match(r"'&lt;T\d+&gt;': ", h) for h in hovers)
    assert not re.search(r"(<|\\u003c)T\d", named)  # never a raw tag


def test_local_token_text_reads_a_local_tokenizer_and_never_the_network(tmp_path, tokenizer):
    d = tmp_path / "tok"
    tokenizer.save_pretrained(d)
    decode = local_token_text(d)
    ids = tokenizer.encode(" the user asks")
    assert decode(ids) == [tokenizer.decode([i]) for i in ids]
    assert run_token_text({"model": {"id": str(d)}})(ids) == decode(ids)
    assert local_token_text(tmp_path / "absent") is None
    assert local_token_text("no-such-org/no-such-model-xyz") is None  # not cached here; no download tried
    assert run_token_text({"format_version": 1}) is None
