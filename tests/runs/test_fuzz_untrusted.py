"""Fuzzing the inputs a stranger controls beyond prompt files (issue 13): what ``score-prompts``
is given (prompt text and phrases of any size and content, through the engine and the command
line) and what an import takes in (bundles and run directories written elsewhere, the same
"ingest-style" input: tables produced by another tool). The only allowed outcomes are a result or a
:class:`MonitorError` with a message; never another exception, never a half-written folder."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine.k0 import score_prompts
from monitor.errors import MonitorError, RunFormatError
from monitor.prompts.record import Prompt
from monitor.runs.bundle import BundleLimits, import_bundle
from monitor.runs.store import read_run

SPECIALS = ["<|im_end|>", "<|im_start|>assistant\n", "<think>", "</think>", "<|endoftext|>"]
FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(SPECIALS + ["word ", "\n", " ", "é", "🙂", "\x00"]), max_size=60).map("".join),
    st.builds(lambda w, n: w * n, st.sampled_from(["word ", "x", "🙂", "\n"]), st.integers(0, 6000)),
)


@FUZZ
@given(prompts=st.lists(texts, min_size=1, max_size=3), phrases=st.lists(texts, min_size=1, max_size=2))
def test_score_prompts_gives_a_probability_or_a_clear_error(loaded_tiny, prompts, phrases):
    ps = [Prompt(f"p{i}", t) for i, t in enumerate(prompts)]
    try:
        df = score_prompts(loaded_tiny, ps, phrases)
    except MonitorError as e:
        assert str(e).strip()
        return
    assert len(df) == len(ps) * len(phrases)
    assert all(math.isfinite(v) and v <= 1e-6 for v in df["logprob"])
    window = loaded_tiny.model.config.max_position_embeddings
    assert all(int(n) + len(ids) <= window for n, ids in zip(df["prompt_tokens"], df["forced_token_ids"]))


@FUZZ
@given(rows=st.lists(st.fixed_dictionaries({"text": texts}), min_size=1, max_size=3), phrase=texts)
def test_score_prompts_command_line_exits_0_or_2_in_one_line(loaded_tiny, tmp_path_factory, capsys, monkeypatch, rows, phrase):
    import monitor.cli as mcli

    f = tmp_path_factory.mktemp("fuzz") / "p.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.setattr(mcli, "_load", lambda args: loaded_tiny)
    capsys.readouterr()  # start each example with empty captures: examples share the fixture
    try:
        rc = mcli.main(["score-prompts", "--model", "tiny", "--prompts", str(f), "--phrase", phrase])
    except SystemExit as e:  # argparse's own usage errors (a phrase such as "-x" reads as an option)
        rc = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert rc == 0 or (rc == 2 and len([x for x in err.splitlines() if x.startswith("monitor score-prompts: error")]) == 1), err


def _valid_bundle() -> bytes:
    buf = io.BytesIO()
    tables = {
        "prompts": pd.DataFrame({"prompt_id": ["a"], "text": ["x"], "label": ["eval"]}),
        "rollouts": pd.DataFrame([{"prompt_id": "a", "rollout": 0, "prompt_token_ids": [1], "completion_token_ids": [2],
                                   "cot_text": "Hi.", "finish_reason": "stop"}]),
        "sentences": pd.DataFrame([{"prompt_id": "a", "rollout": 0, "sentence": 0, "text": "", "char_start": 0, "char_end": 0,
                                    "boundary_token": 0}]),
        "scores": pd.DataFrame([{"prompt_id": "a", "rollout": 0, "sentence": 0, "phrase": "P", "forced_token_ids": [5],
                                 "token_logprobs": [-1.0], "logprob": -1.0}]),
    }
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps({"format_version": 1, "status": "complete"}))
        for name, df in tables.items():
            b = io.BytesIO()
            df.to_parquet(b, index=False)
            zf.writestr(f"{name}.parquet", b.getvalue())
    return buf.getvalue()


VALID = _valid_bundle()


@st.composite
def damaged(draw) -> bytes:
    data = VALID
    op = draw(st.sampled_from(["none", "random", "truncate", "flip", "insert", "extra"]))
    if op == "random":
        return draw(st.binary(max_size=4000))
    i = draw(st.integers(0, len(data) - 1))
    if op == "truncate":
        return data[:i]
    if op == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if op == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=50)) + data[i:]
    if op == "extra":  # a valid zip with odd entries added
        buf = io.BytesIO(data)
        with zipfile.ZipFile(buf, "a") as zf:
            name = draw(st.sampled_from(["../x", "/abs", "parts/u/rollouts.parquet", "a\\b", "judge_parts/j/results.jsonl",
                                         "manifest.json", "dir/", "x" * 300]))
            zf.writestr(name, draw(st.binary(max_size=200)))
        return buf.getvalue()
    return data


@FUZZ
@given(data=damaged())
def test_import_takes_a_run_or_refuses_and_leaves_nothing(tmp_path_factory, data):
    base = tmp_path_factory.mktemp("imp")
    (base / "b.zip").write_bytes(data)
    dest = base / "out" / "run"
    try:
        import_bundle(base / "b.zip", dest, limits=BundleLimits(max_total_bytes=10 * 2**20))
    except RunFormatError as e:
        assert str(e).strip()
        assert not dest.exists()
        assert not [p for p in (base / "out").iterdir()] if (base / "out").exists() else True
        return
    run = read_run(dest)
    assert len(run.prompts) >= 1


@FUZZ
@given(manifest=st.one_of(st.binary(max_size=200), st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
           st.sampled_from(["format_version", "status", "phrases", "model"]),
           st.one_of(st.integers(), st.text(max_size=10), st.none(), st.lists(st.text(max_size=5), max_size=3))))),
       table=st.sampled_from(["prompts", "rollouts", "sentences", "scores"]),
       content=st.binary(max_size=300))
def test_a_foreign_run_directory_reads_or_says_what_is_wrong(tmp_path_factory, manifest, table, content):
    d = tmp_path_factory.mktemp("foreign")
    with zipfile.ZipFile(io.BytesIO(VALID)) as zf:
        zf.extractall(d)
    (d / "manifest.json").write_bytes(manifest)
    (d / f"{table}.parquet").write_bytes(content)
    try:
        read_run(d)
    except RunFormatError as e:
        assert str(e).strip()


# ---------------------------------------------------------------- monitor ingest: rollout files


def _rollout_records(draw) -> list[dict]:
    rec = st.fixed_dictionaries(
        {"prompt": texts, "completion": texts},
        optional={"id": st.text(max_size=8), "label": st.sampled_from(["eval", "deploy", "x", ""]),
                  "model": st.text(max_size=8), "choices": st.just([{"message": {"content": "<think>hi</think>ok"}}])},
    )
    return draw(st.lists(rec, min_size=0, max_size=4))


@st.composite
def rollout_file(draw) -> tuple[str, bytes]:
    ext = draw(st.sampled_from([".jsonl", ".csv", ".json", ".parquet", ".tsv"]))
    recs = _rollout_records(draw)
    if ext == ".jsonl":
        data = "".join(json.dumps(r) + "\n" for r in recs).encode()
    elif ext == ".json":
        data = json.dumps(draw(st.sampled_from([recs, {"eval": {}, "version": 2}, {"events": [], "metadata": {}}, 3]))).encode()
    elif ext == ".parquet":
        b = io.BytesIO()
        pd.DataFrame([{k: json.dumps(v) if not isinstance(v, str) else v for k, v in r.items()} for r in recs]).to_parquet(b)
        data = b.getvalue()
    else:
        df = pd.DataFrame([{k: v for k, v in r.items() if isinstance(v, str)} for r in recs])
        data = df.to_csv(index=False, sep="," if ext == ".csv" else "\t").encode("utf-8", "surrogatepass")
    op = draw(st.sampled_from(["none", "none", "truncate", "flip", "random"]))
    if op == "random":
        data = draw(st.binary(max_size=2000))
    elif data and op == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif data and op == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:]
    return ext, data


@FUZZ
@given(f=rollout_file(), lenient=st.booleans())
def test_ingest_sources_read_or_say_what_is_wrong(tmp_path_factory, f, lenient):
    from monitor.ingest.source import read_rollouts

    ext, data = f
    path = tmp_path_factory.mktemp("ingest") / f"rollouts{ext}"
    path.write_bytes(data)
    try:
        read_rollouts(path, lenient=lenient)
    except MonitorError as e:
        assert str(e).strip()
