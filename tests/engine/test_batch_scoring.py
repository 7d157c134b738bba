"""Several sequences in one padded pass give the log-probs of scoring them one at a time."""

import numpy as np
import pytest
import torch

from conftest import tiny_model
from monitor.engine.batch_scoring import score_packed_batch
from monitor.engine.scoring import ForceQuery, score_naive, score_packed

VOCAB = 300


def _items(seed: int, lengths=(40, 75, 12, 90, 90, 33, 1)) -> list:
    g = np.random.default_rng(seed)
    items = []
    for n in lengths:
        seq = g.integers(0, VOCAB, n).tolist()
        qs = [ForceQuery(int(c), tuple(int(x) for x in g.integers(0, VOCAB, int(g.integers(1, 6))))) for c in g.integers(1, n + 1, 5)]
        items.append((seq, qs))
    items.append((g.integers(0, VOCAB, 10).tolist(), []))  # nothing to score
    return items


def _max_diff(a, b) -> float:
    return max((float(np.abs(x - y).max()) for ra, rb in zip(a, b) for x, y in zip(ra, rb)), default=0.0)


@pytest.mark.parametrize("kind", ["qwen3", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_batch_equals_naive_and_one_at_a_time(kind, attn):
    model = tiny_model(kind, vocab_size=VOCAB, attn=attn)
    items = _items(1)
    got = score_packed_batch(model, items)
    assert [len(r) for r in got] == [len(q) for _, q in items]
    naive = [score_naive(model, s, q) for s, q in items]
    assert _max_diff(got, naive) < 1e-4
    one = [score_packed(model, s, q) for s, q in items]
    assert _max_diff(got, one) < 1e-5


def test_small_budget_and_row_cap_split_the_batch_exactly():
    model = tiny_model(vocab_size=VOCAB)
    items = _items(2)
    whole = score_packed_batch(model, items)
    assert _max_diff(whole, score_packed_batch(model, items, max_rows=2)) < 1e-5
    assert _max_diff(whole, score_packed_batch(model, items, memory_budget_mb=0.01)) < 1e-5


def test_sliding_window_rows_are_masked_per_layer_type():
    model = tiny_model(vocab_size=VOCAB, use_sliding_window=True, sliding_window=8, max_window_layers=1)
    assert "sliding_attention" in model.config.layer_types
    items = _items(3, lengths=(60, 25, 80))
    naive = [score_naive(model, s, q) for s, q in items]
    assert _max_diff(score_packed_batch(model, items), naive) < 1e-4


def test_out_of_memory_halves_the_group(monkeypatch, caplog):
    import monitor.engine.batch_scoring as bs

    model = tiny_model(vocab_size=VOCAB)
    items = _items(4)
    ref = score_packed_batch(model, items)
    real = bs._score_group
    sizes = []

    def flaky(model, items, rows, *a):
        n = sum(len(r) for r in rows)
        sizes.append((len(rows), n))
        if n > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, items, rows, *a)

    monkeypatch.setattr(bs, "_score_group", flaky)
    with caplog.at_level("WARNING"):
        got = score_packed_batch(model, items)
    assert sizes[0][1] == 7 and "scoring 7 sequences together" in caplog.text
    assert all(n < 7 for _, n in sizes[1:]) and sum(n for _, n in sizes if n <= 2) == 7
    assert _max_diff(ref, got) < 1e-6


def test_one_packed_row_splits_its_items_when_out_of_memory(monkeypatch):
    """A group of a single row holding several items halves the row's items."""
    import monitor.engine.batch_scoring as bs

    model = tiny_model(vocab_size=VOCAB)
    g = np.random.default_rng(5)
    # Lengths with copies 102, 60, 21, 21: rows [A] and [D, B, C] of one group at max_rows=2.
    items = [(g.integers(0, VOCAB, n).tolist(), [ForceQuery(n, tuple(int(x) for x in g.integers(0, VOCAB, L)))])
             for n, L in ((100, 3), (20, 2), (20, 2), (59, 2))]
    plan = bs._plan(items, list(range(4)), bs.model_layout(model), 2**30, 2, 10**6)  # rows as long as the longest item
    assert plan == [[[0], [3, 1, 2]]]
    ref = [score_packed(model, s, q) for s, q in items]
    real = bs._score_group

    def flaky(model, items, rows, *a):
        if sum(len(r) for r in rows) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, items, rows, *a)

    monkeypatch.setattr(bs, "_score_group", flaky)
    assert _max_diff(ref, score_packed_batch(model, items, max_rows=2, min_row=0)) < 1e-5


def test_packed_rows_are_scored_as_one_item_at_a_time():
    """Short items share rows (first fit decreasing); each still sees only itself."""
    import monitor.engine.batch_scoring as bs

    model = tiny_model(vocab_size=VOCAB)
    items = _items(6, lengths=(120, 30, 25, 60, 10, 44, 90, 5, 70))
    plan = bs._plan(items, [i for i, (_, q) in enumerate(items) if q], bs.model_layout(model), 2**30, 256, 2048)
    assert any(len(r) > 2 for g in plan for r in g)
    one = [score_packed(model, s, q) for s, q in items]
    assert _max_diff(score_packed_batch(model, items), one) < 1e-5


def test_gemma3_packed_rows_keep_sliding_windows_and_logit_softcapping():
    """Gemma 3: sliding-window layers (window 8, shorter than the items) and a soft-capped head,
    which the head hook must leave to the model: packed rows equal the naive method."""
    import monitor.engine.batch_scoring as bs

    model = tiny_model("gemma3", vocab_size=VOCAB, final_logit_softcapping=2.0)
    items = _items(7, lengths=(90, 30, 25, 40, 12, 50, 20))
    plan = bs._plan(items, [i for i, (_, q) in enumerate(items) if q], bs.model_layout(model), 2**30, 256, 2048)
    assert any(len(r) > 1 for g in plan for r in g)
    naive = [score_naive(model, s, q) for s, q in items]
    assert _max_diff(score_packed_batch(model, items), naive) < 1e-4
    assert _max_diff(score_packed_batch(model, items), [score_packed(model, s, q) for s, q in items]) < 1e-5


def test_a_head_the_hook_cannot_see_gives_the_same_logprobs(monkeypatch):
    """Without ``get_output_embeddings`` the kept (R, K) logits are gathered instead."""
    model = tiny_model(vocab_size=VOCAB)
    items = _items(8, lengths=(60, 20, 15, 33, 70))
    hooked = score_packed_batch(model, items)
    monkeypatch.setattr(model, "get_output_embeddings", lambda: None)
    assert _max_diff(hooked, score_packed_batch(model, items)) < 1e-5


def test_a_minimum_row_length_packs_short_items_with_less_padding(monkeypatch):
    """Rows of at least MIN_ROW tokens hold several short items where that pads less; each item
    still sees only itself."""
    import monitor.engine.batch_scoring as bs

    model = tiny_model(vocab_size=VOCAB)
    items = _items(9, lengths=(30, 25, 40, 12, 50, 20, 33, 18, 27, 45))
    todo = [i for i, (_, q) in enumerate(items) if q]
    layout = bs.model_layout(model)

    def padded(plan):
        info = {i: bs._row(*items[i]) for g in plan for r in g for i in r}
        return sum(len(g) * max(sum(info[i][0] + len(info[i][1].tok) for i in r) for r in g) for g in plan)

    tight = bs._plan(items, todo, layout, 2**30, 256, 2048)
    wide = bs._plan(items, todo, layout, 2**30, 256, 2048, bs.MIN_ROW)
    assert max(len(r) for g in wide for r in g) > 2
    assert padded(tight) == bs._padded(tight, bs._sizes(items, todo)) and padded(wide) == bs._padded(wide, bs._sizes(items, todo))
    # Ten items: the tight rows pad less here (468 tokens against 512), so they are the plan taken.
    assert padded(tight) < padded(wide)
    taken = []
    real = bs._score_group
    monkeypatch.setattr(bs, "_score_group", lambda m, it, rows, *a: taken.append(rows) or real(m, it, rows, *a))
    one = [score_packed(model, s, q) for s, q in items]
    assert _max_diff(score_packed_batch(model, items), one) < 1e-5
    assert taken == tight
    many = _items(10, lengths=tuple(range(12, 80, 3)) * 3)  # 69 short items: the wide rows pad less
    todo = [i for i, (_, q) in enumerate(many) if q]
    size = bs._sizes(many, todo)
    assert bs._padded(bs._plan(many, todo, layout, 2**30, 256, 2048, bs.MIN_ROW), size) < bs._padded(bs._plan(many, todo, layout, 2**30, 256, 2048), size)
    assert _max_diff(score_packed_batch(model, many), [score_packed(model, s, q) for s, q in many]) < 1e-5
