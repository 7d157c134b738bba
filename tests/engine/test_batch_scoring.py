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

    def flaky(model, group, *a):
        sizes.append(len(group))
        if len(group) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, group, *a)

    monkeypatch.setattr(bs, "_score_group", flaky)
    with caplog.at_level("WARNING"):
        got = score_packed_batch(model, items)
    assert "scoring 7 sequences together" in caplog.text and max(sizes[1:]) <= 4
    assert _max_diff(ref, got) < 1e-6
