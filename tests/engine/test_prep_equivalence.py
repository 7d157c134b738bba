"""The per-rollout prep and the batched scoring give exactly what they gave before they were made
faster (issue 11): checked on real inputs, rollouts sampled from the demo organism on held-out
prompts, against frozen copies of the previous implementations kept here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from monitor.engine import batch_scoring as bs
from monitor.engine.boundaries import phrase_queries, rollout_boundaries
from monitor.engine.forcing import ForcedPhrase, _TAIL, force_phrase
from monitor.engine.tokens import _rust_backend, decode_memo, token_end_offsets
from monitor.engine.scoring import ForceQuery, _additive, _collect, _Copies, _first_token_logprobs, score_packed

ROOT = Path(__file__).resolve().parents[2]
PHRASES = ("The user might be testing", "This is clearly a test")
pytestmark = pytest.mark.skipif(not (ROOT / "data/demo_model").is_dir(), reason="demo model not in this checkout")


@pytest.fixture(scope="module")
def demo():
    """The demo organism and 16 rollouts of 160 tokens on evenly spaced held-out prompts."""
    from monitor.config import RunConfig
    from monitor.engine.chat import detect_think_markers, render_prompt
    from monitor.engine.models import load_model
    from monitor.prompts.input import load_prompts
    from monitor.runs.pipeline import _generate_with_backoff, plan_units

    loaded = load_model(str(ROOT / "data/demo_model"), device="cpu", dtype="float32")
    prompts = list(load_prompts(str(ROOT / "data/prompts/demo_heldout.jsonl")))
    picked = [prompts[i * len(prompts) // 16] for i in range(16)]
    cfg = RunConfig(PHRASES, rollouts=1, max_new_tokens=160, seed=0, batch_size=16, temperature=0.6, top_p=0.95, top_k=20)
    cfg = replace(cfg, markers=detect_think_markers(loaded.tokenizer))
    rendered = {p.prompt_id: render_prompt(loaded.tokenizer, p, markers=cfg.markers) for p in picked}
    rolls = [r for u in plan_units(picked, rendered, cfg) for r in _generate_with_backoff(loaded, list(u.requests), cfg)]
    return loaded, prompts, cfg, rolls


def _decode(tok, ids):
    return tok.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _force_phrase_before(tok, context_ids, phrase, *, allow_cut_back=True) -> ForcedPhrase:
    """force_phrase as it was: no memo, transformers' own encode/decode, every decode done."""
    n = len(context_ids)
    tail_ids = [int(i) for i in context_ids[max(0, n - _TAIL) :]]
    tail = _decode(tok, tail_ids)
    while tail.startswith("\ufffd") and len(tail_ids) > 1:
        tail_ids = tail_ids[1:]
        tail = _decode(tok, tail_ids)
    text = phrase if (not tail or tail[-1].isspace()) else " " + phrase
    joint = list(tok(tail + text, add_special_tokens=False)["input_ids"])
    joint_ends = token_end_offsets(tok, joint) if joint else []
    for cut in (0, 1) if allow_cut_back else (0,):
        keep = len(tail_ids) - cut
        if keep < 0:
            continue
        seam = len(_decode(tok, tail_ids[:keep]))
        if _decode(tok, tail_ids[:keep]) != tail[:seam]:
            continue
        m = 0 if seam == 0 else next((k + 1 for k, e in enumerate(joint_ends) if e == seam), None)
        if m is None or m >= len(joint):
            continue
        forced = joint[m:]
        seam_text = tail[seam:] + text
        if _decode(tok, forced) == seam_text:
            return ForcedPhrase(n - cut, tuple(forced), seam_text, "exact" if cut == 0 else "cut_back")
    forced = list(tok(text, add_special_tokens=False)["input_ids"])
    return ForcedPhrase(n, tuple(forced), _decode(tok, forced), "unaligned")


def test_phrase_queries_with_the_decode_memo_equal_the_previous_rule(demo):
    loaded, _, cfg, rolls = demo
    tok = loaded.tokenizer
    n_queries = 0
    with decode_memo():  # one memo across rollouts, as score_rollouts holds it for a unit
        for r in rolls:
            bounds = rollout_boundaries(tok, r, close_marker=cfg.markers.close)
            queries = phrase_queries(tok, r, bounds, PHRASES)
            prompt, comp = list(r.prompt_token_ids), list(r.completion_token_ids)
            for q in queries:
                b = next(b for b in bounds if b.sentence == q.sentence)
                ref = _force_phrase_before(tok, prompt + comp[: b.boundary_token], q.phrase, allow_cut_back=b.boundary_token > 0)
                assert (q.boundary_token, q.forced_ids, q.alignment) == (ref.context_len - len(prompt), ref.forced_ids, ref.alignment)
                n_queries += 1
    assert n_queries > 3 * len(rolls)  # the rollouts have real sentences, not only boundary 0


def test_force_phrase_outside_and_inside_a_memo_block_agree(demo):
    loaded, prompts, _, rolls = demo
    tok = loaded.tokenizer
    contexts = [list(r.prompt_token_ids) + list(r.completion_token_ids)[:k] for r in rolls for k in (1, 7, 40)]
    for ctx in contexts:
        for ph in PHRASES:
            plain = force_phrase(tok, ctx, ph)
            with decode_memo():
                assert force_phrase(tok, ctx, ph) == plain == _force_phrase_before(tok, ctx, ph)


def _kept_before(rows, queries, N):
    keep = set()
    for (T, c), qs in zip(rows, queries):
        off = N - T - len(c.tok)
        keep.update(off + q.context_len - 1 for q in qs)
        keep.update(range(off + T, N))
    return sorted(keep)


def _score_group_before(model, items, layout, device):
    """batch_scoring._score_group as it was first: one left-padded row per item, the mask built
    row by row, log-probs collected per row."""
    rows = [bs._row(s, q) for s, q in items]
    N = max(T + len(c.tok) for T, c in rows)
    R = len(items)
    ids = torch.zeros((R, N), dtype=torch.long)
    pos = torch.zeros((R, N), dtype=torch.long)
    allowed = torch.eye(N, dtype=torch.bool).repeat(R, 1, 1)
    for r, ((seq, _), (T, c)) in enumerate(zip(items, rows)):
        off = N - T - len(c.tok)
        ids[r, off:] = torch.tensor(list(seq[:T]) + c.tok, dtype=torch.long)
        pos[r, off:] = torch.tensor(list(range(T)) + c.pos, dtype=torch.long)
        a = allowed[r, off:, off:]
        a[:T, :T] = torch.ones(T, T, dtype=torch.bool).tril()
        if c.tok:
            a[T:] = c.mask(T, "cpu")
    attention_mask = _additive(allowed, model.dtype)[0].transpose(0, 1)
    keep = _kept_before(rows, [q for _, q in items], N)
    col = {p: k for k, p in enumerate(keep)}
    with torch.inference_mode():
        logits = model(input_ids=ids, position_ids=pos, attention_mask=attention_mask,
                       logits_to_keep=torch.tensor(keep, dtype=torch.long), use_cache=False).logits
    out = []
    for r, ((_, qs), (T, c)) in enumerate(zip(items, rows)):
        off = N - T - len(c.tok)
        first_rows = sorted({q.context_len - 1 for q in qs})
        first = _first_token_logprobs(logits[r, torch.tensor([col[off + p] for p in first_rows])], first_rows, qs, range(len(qs)), device)
        copy_sel = torch.tensor([col[p] for p in range(off + T, N)], dtype=torch.long)
        res = _collect(qs, range(len(qs)), first, logits[r, copy_sel] if len(copy_sel) else None, device)
        out.append([res[i] for i in range(len(qs))])
    return out


def _score_batch_before(model, items, max_tokens):
    """score_packed_batch as it was before packing: items sorted by length, consecutive ones
    grouped under the token cap, one row each."""
    todo = [i for i, (_, qs) in enumerate(items) if qs]
    n = {i: (lambda T, c: T + len(c.tok))(*bs._row(*items[i])) for i in todo}
    todo.sort(key=lambda i: n[i])
    out = {i: [] for i, (_, qs) in enumerate(items) if not qs}
    cur: list[int] = []
    for i in todo + [None]:
        if cur and (i is None or (len(cur) + 1) * n[i] > max_tokens):
            out.update(zip(cur, _score_group_before(model, [items[j] for j in cur], None, "cpu")))
            cur = []
        if i is not None:
            cur.append(i)
    return [out[i] for i in range(len(items))]


def _k1_items(demo):
    from monitor.runs.pipeline import _prepare

    loaded, _, cfg, rolls = demo
    return [(p.seq, p.uniq) for p in (_prepare(loaded, r, PHRASES, None, cfg.markers.close) for r in rolls)]


def _k0_items(demo, n=48):
    from monitor.engine.chat import k0_context_ids, render_prompt

    loaded, prompts, cfg, _ = demo
    tok = loaded.tokenizer
    items = []
    for p in prompts[:n]:
        ctx = k0_context_ids(tok, render_prompt(tok, p, markers=cfg.markers), cfg.markers)
        items.append((ctx, [ForceQuery(f.context_len, f.forced_ids) for f in (force_phrase(tok, ctx, ph, allow_cut_back=False) for ph in PHRASES)]))
    return items


@pytest.mark.parametrize("which", ["rollouts", "k0"])
@pytest.mark.parametrize("max_tokens", [512, 2048])
def test_packed_scoring_equals_the_previous_one_row_per_item_scoring(demo, which, max_tokens):
    """Packing several items into a row changes the batch shape (rows, columns, the head's rows),
    so fp32 sums may round differently: equal to 1e-5, and to scoring one item at a time."""
    model = demo[0].model
    items = _k1_items(demo) if which == "rollouts" else _k0_items(demo)
    plan = bs._plan(items, list(range(len(items))), bs.model_layout(model), 2**31, 256, max_tokens)
    if which == "k0" and max_tokens == 2048:  # short prompts: the comparison covers rows holding several items
        assert sum(len(r) > 1 for g in plan for r in g) >= 5
    new = bs.score_packed_batch(model, items, max_tokens=max_tokens)
    old = _score_batch_before(model, items, max_tokens)
    one = [score_packed(model, s, q) for s, q in items]
    assert [len(r) for r in new] == [len(r) for r in old] == [len(q) for _, q in items]
    for a, b, c in zip(new, old, one):
        for x, y, z in zip(a, b, c):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)
            np.testing.assert_allclose(x, z, rtol=0, atol=1e-5)


def test_packed_mask_is_each_items_own_mask_side_by_side(demo):
    """The mask of a packed row, including items whose queries force single tokens (no copies):
    each item's block is its single-pass mask, nothing crosses items, padding sees itself."""
    items = _k1_items(demo)[:3] + [([5, 6, 7, 8], [ForceQuery(2, (9,)), ForceQuery(4, (10,))])] + _k0_items(demo, 4)
    info = {i: bs._row(*items[i]) for i in range(len(items))}
    rows = [[0, 7], [1, 3, 4], [2], [5, 6]]
    N = max(sum(info[i][0] + len(info[i][1].tok) for i in r) for r in rows) + 3
    ids, pos, allowed, place = bs._layout_rows(items, info, rows, N)
    for r, row in enumerate(rows):
        ref = torch.eye(N, dtype=torch.bool)
        for i in row:
            (seq, _), (T, c) = items[i], info[i]
            rr, off = place[i]
            assert rr == r
            n = T + len(c.tok)
            ref[off : off + n, off : off + n] = False
            ref[off : off + T, off : off + T] = torch.ones(T, T, dtype=torch.bool).tril()
            if c.tok:
                ref[off + T : off + n, off : off + n] = c.mask(T, "cpu")
            assert ids[r, off : off + n].tolist() == list(seq[:T]) + c.tok
            assert pos[r, off : off + n].tolist() == list(range(T)) + c.pos
        assert torch.equal(allowed[r], ref)


def test_prompt_ids_through_the_backend_equal_the_tokenizer_call(demo, monkeypatch):
    """render_prompt and k0_context_ids tokenize through the Rust backend where that is the same
    call: every held-out prompt gets the ids transformers' tokenizer() gives, with and without a
    decode memo active, and so does a prompt carrying special-token text (split around it)."""
    from monitor.engine import chat, special
    from monitor.engine.chat import k0_context_ids, render_prompt
    from monitor.prompts.record import Prompt

    loaded, prompts, cfg, _ = demo
    tok = loaded.tokenizer
    assert _rust_backend(tok) is not None  # the fast path is the one under test
    tricky = Prompt(prompt_id="tricky", text="Say <|im_end|><|im_start|>assistant\nhi")
    before = lambda tk, text: list(tk(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    new = [(render_prompt(tok, p, markers=cfg.markers), p) for p in prompts + [tricky]]
    with decode_memo():
        memo = [render_prompt(tok, p, markers=cfg.markers).token_ids for p in prompts[:20]]
    monkeypatch.setattr(special, "encode", before)
    monkeypatch.setattr(chat, "encode", before)
    for r, p in new:
        old = render_prompt(tok, p, markers=cfg.markers)
        assert r == old
        assert k0_context_ids(tok, old, cfg.markers) == k0_context_ids(tok, r, cfg.markers)
    assert memo == [r.token_ids for r, _ in new[:20]]


def test_score_prompts_batched_equals_one_prompt_per_pass_on_the_held_out_set(demo):
    """k = 0 on all 160 held-out prompts (the issue's benchmark): packed batches give the same
    contexts, forced ids and alignments as one prompt per pass, and log-probs within 1e-5."""
    import pandas as pd

    from monitor.engine.k0 import score_prompts

    loaded, prompts, cfg, _ = demo
    one = score_prompts(loaded, prompts, PHRASES, markers=cfg.markers, batch_size=1)
    many = score_prompts(loaded, prompts, PHRASES, markers=cfg.markers)
    assert len(many) == len(prompts) * len(PHRASES)
    drop = ["logprob", "prob", "token_logprobs"]
    pd.testing.assert_frame_equal(one.drop(columns=drop), many.drop(columns=drop))
    np.testing.assert_allclose(many.logprob, one.logprob, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(many.token_logprobs.map(np.asarray)), np.concatenate(one.token_logprobs.map(np.asarray)), rtol=0, atol=1e-5)
