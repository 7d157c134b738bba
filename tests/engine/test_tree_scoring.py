"""One flat pass over many items (tree_scoring): the log-probs of scoring each item alone, with the
positions shared prefixes have in common computed once, and the model left as it was found."""

import threading

import numpy as np
import pytest
import torch

from conftest import tiny_model
import monitor.engine.tree_scoring as ts
from monitor.engine.batch_scoring import score_packed_batch
from monitor.engine.scoring import ForceQuery, score_naive, score_packed

VOCAB = 300


def _max_diff(a, b) -> float:
    return max((float(np.abs(x - y).max()) for ra, rb in zip(a, b) for x, y in zip(ra, rb)), default=0.0)


def _queries(g, n: int, k: int = 4) -> list[ForceQuery]:
    return [ForceQuery(int(c), tuple(int(x) for x in g.integers(0, VOCAB, int(g.integers(1, 6))))) for c in g.integers(1, n + 1, k)]


def _sharing_items(seed: int) -> list:
    """Items that begin alike: a common 'system prompt', rollouts of one prompt, an item that is a
    prefix of another, an exact duplicate, single-token phrases (no copies), and one with nothing
    to score."""
    g = np.random.default_rng(seed)
    system = g.integers(0, VOCAB, 25).tolist()
    prompt = system + g.integers(0, VOCAB, 12).tolist()
    items = []
    for n in (30, 55, 8):  # rollouts of one prompt
        seq = prompt + g.integers(0, VOCAB, n).tolist()
        items.append((seq, _queries(g, len(seq))))
    other = system + g.integers(0, VOCAB, 40).tolist()
    items.append((other, _queries(g, len(other))))
    items.append((other[:20], _queries(g, 20)))  # a prefix of another item
    items.append((list(other), list(items[-2][1])))  # a duplicate
    items.append((g.integers(0, VOCAB, 33).tolist(), _queries(g, 33)))  # shares nothing
    items.append((prompt[:30], [ForceQuery(30, (5,)), ForceQuery(12, (7,))]))  # no copies, all shared
    items.append((g.integers(0, VOCAB, 10).tolist(), []))
    return items


@pytest.fixture
def spy(monkeypatch):
    """Records each flat pass's state, so that a test knows the flat pass ran."""
    passes = []
    real = ts._Pass

    def record(*a, **k):
        p = real(*a, **k)
        passes.append(p)
        return p

    monkeypatch.setattr(ts, "_Pass", record)
    return passes


@pytest.mark.parametrize("kind", ["qwen3", "llama", "gemma3"])
def test_flat_pass_equals_one_item_at_a_time(kind, spy):
    model = tiny_model(kind, vocab_size=VOCAB)
    assert ts.tree_supported(model)
    items = _sharing_items(1)
    got = ts.score_tree(model, items)
    assert spy and all(p.calls == model.config.num_hidden_layers for p in spy)
    assert [len(r) for r in got] == [len(q) for _, q in items]
    assert _max_diff(got, [score_packed(model, s, q) for s, q in items]) < 1e-5
    assert _max_diff(got, [score_naive(model, s, q) for s, q in items]) < 1e-4


def test_shared_prefixes_are_laid_out_once():
    """Sorted by their sequences (up to the longest context), each item shares with the one before
    it their longest common prefix; copies are never shared."""
    items = [([1, 2, 3, 4, 5], [ForceQuery(5, (9, 9))]), ([1, 2, 3, 7], [ForceQuery(4, (9,))]),
             ([1, 2, 3, 4, 5], [ForceQuery(2, (8, 8, 8))]), ([6, 6], [ForceQuery(1, (9,))])]
    flat = ts._lay_out(items, [0, 1, 2, 3])
    # Sorted: [1 2] (item 2) + copies 8 8; [1 2 3 4 5] shares [1 2] + copy 9; [1 2 3 7] shares
    # [1 2 3], no copies (one token); [6] alone.
    assert flat.ids.tolist() == [1, 2, 8, 8, 3, 4, 5, 9, 7, 6]
    assert flat.pos.tolist() == [0, 1, 2, 3, 2, 3, 4, 5, 3, 0]
    assert [len(flat.units[i].home) for i in (2, 0, 1, 3)] == [4, 4, 1, 1]
    assert flat.units[1].keys.tolist() == [0, 1, 4, 8]  # it reads [1 2 3] where item 0 computed them
    assert flat.reads[0] == [([6, 7], [9, 9])] and flat.reads[2] == [([1, 2, 3], [8, 8, 8])]


def test_sliding_window_layers_are_masked_within_each_item(spy):
    model = tiny_model(vocab_size=VOCAB, use_sliding_window=True, sliding_window=8, max_window_layers=1)
    assert "sliding_attention" in model.config.layer_types
    items = _sharing_items(2)
    got = ts.score_tree(model, items)
    assert spy
    assert _max_diff(got, [score_naive(model, s, q) for s, q in items]) < 1e-4


def test_small_budget_and_pass_size_split_the_items_exactly():
    model = tiny_model(vocab_size=VOCAB)
    items = _sharing_items(3)
    whole = ts.score_tree(model, items)
    assert _max_diff(whole, ts.score_tree(model, items, max_tokens=40)) < 1e-5
    assert _max_diff(whole, ts.score_tree(model, items, memory_budget_mb=0.01)) < 1e-5


def test_the_model_keeps_its_attention_implementation():
    model = tiny_model(vocab_size=VOCAB)
    ts.score_tree(model, _sharing_items(4))
    assert model.config._attn_implementation == "sdpa"

    def boom(*a, **k):
        raise RuntimeError("boom")

    items = _sharing_items(4)
    head = model.get_output_embeddings()
    handle = head.register_forward_pre_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        ts.score_tree(model, items)
    handle.remove()
    assert model.config._attn_implementation == "sdpa" and not ts._USERS
    # A left-padded batch, as generation runs while a flat pass holds the implementation: the
    # same masks and attention as sdpa.
    ids = torch.tensor([[0, 0] + items[0][0][:20], items[1][0][:22]])
    mask = torch.tensor([[0, 0] + [1] * 20, [1] * 22])
    with torch.inference_mode():
        ts._register()
        plain = model(input_ids=ids, attention_mask=mask).logits
        model.config._attn_implementation = ts._IMPL
        routed = model(input_ids=ids, attention_mask=mask).logits
        model.config._attn_implementation = "sdpa"
    assert torch.equal(plain, routed)


def test_passes_in_several_threads_and_plain_calls_meanwhile_are_each_exact():
    model = tiny_model(vocab_size=VOCAB)
    items = _sharing_items(5)
    ref = [score_packed(model, s, q) for s, q in items]
    ids = torch.tensor([items[0][0]])
    with torch.inference_mode():
        plain_ref = model(input_ids=ids).logits
    errors, diffs = [], []

    def flat():
        try:
            for _ in range(4):
                diffs.append(_max_diff(ts.score_tree(model, items), ref))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def plain():
        try:
            for _ in range(8):
                with torch.inference_mode():
                    diffs.append(float((model(input_ids=ids).logits - plain_ref).abs().max()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (flat, flat, plain)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(diffs) == 16 and max(diffs) < 1e-5
    assert model.config._attn_implementation == "sdpa" and not ts._USERS


def test_eager_models_take_the_padded_rows(spy):
    model = tiny_model(vocab_size=VOCAB, attn="eager")
    assert not ts.tree_supported(model)
    items = _sharing_items(6)
    got = score_packed_batch(model, items)
    assert not spy
    assert _max_diff(got, [score_packed(model, s, q) for s, q in items]) < 1e-5


def test_a_model_whose_layers_bypass_the_flat_attention_falls_back_to_rows(monkeypatch, caplog):
    """If fewer layers than the model has took the flat pass's marker (a layer that attends some
    other way would have read the marker as its mask), the pass is not trusted: the items are
    scored in padded rows, and that model is not tried flat again."""
    model = tiny_model(vocab_size=VOCAB)
    items = _sharing_items(7)
    real = ts._Pass

    def one_short(*a, **k):
        p = real(*a, **k)
        p.calls = -1  # as if one layer had attended some other way
        return p

    monkeypatch.setattr(ts, "_Pass", one_short)
    with caplog.at_level("WARNING"):
        got = score_packed_batch(model, items)
    assert "padded rows instead of one flat pass" in caplog.text
    assert not ts.tree_supported(model) and model.config._attn_implementation == "sdpa"
    assert _max_diff(got, [score_packed(model, s, q) for s, q in items]) < 1e-5


def test_out_of_memory_halves_the_pass(monkeypatch, caplog):
    model = tiny_model(vocab_size=VOCAB)
    items = _sharing_items(8)
    ref = ts.score_tree(model, items)
    real = ts._score_pass
    sizes = []

    def flaky(model, items, part, *a):
        sizes.append(len(part))
        if len(part) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, items, part, *a)

    monkeypatch.setattr(ts, "_score_pass", flaky)
    with caplog.at_level("WARNING"):
        got = ts.score_tree(model, items)
    n = sum(1 for _, q in items if q)
    assert sizes[0] == n and f"scoring {n} sequences in one pass" in caplog.text
    assert sum(s for s in sizes if s <= 2) == n
    assert _max_diff(ref, got) < 1e-6


def test_an_item_too_big_for_one_block_is_scored_alone_in_chunks(monkeypatch, spy):
    """Under a budget smaller than one long item's attention, that item goes to score_packed
    (which chunks its queries) and the others still share a flat pass."""
    import monitor.engine.scoring as sc

    model = tiny_model(vocab_size=VOCAB)
    g = np.random.default_rng(9)
    items = _sharing_items(9)
    long_seq = g.integers(0, VOCAB, 400).tolist()
    items.append((long_seq, _queries(g, 400, k=6)))
    budget_mb = 0.2  # 400 x 400 x (heads + 2) x 4 bytes is ~3.8 MB; the short items fit
    assert ts._block_bytes(items[-1], sc.model_layout(model)) > budget_mb * 2**20
    alone = []
    real = sc.score_packed
    monkeypatch.setattr(sc, "score_packed", lambda m, s, q, **k: alone.append(len(s)) or real(m, s, q, **k))
    got = ts.score_tree(model, items, memory_budget_mb=budget_mb)
    assert alone == [400] and spy
    assert _max_diff(got, [real(model, s, q) for s, q in items]) < 1e-5


@pytest.mark.parametrize("kind", ["qwen3", "gemma3"])
def test_the_last_layers_mlp_runs_on_the_read_rows_only(kind):
    """After the last layer only the head reads hidden states, at the read rows: its MLP (most of
    a layer's work) sees those rows alone, and the log-probs are unchanged (Gemma 3 also norms the
    MLP's output before the residual)."""
    model = tiny_model(kind, vocab_size=VOCAB)
    items = _sharing_items(10)
    mlp = ts._last_layer_mlp(model)
    assert mlp is model.model.layers[-1].mlp
    seen = []
    handle = mlp.register_forward_hook(lambda m, args, out: seen.append((args[0].shape[1], out.shape[1])))
    try:
        got = ts.score_tree(model, items, max_tokens=10**6)
    finally:
        handle.remove()
    flat = ts._lay_out(items, [i for i, (_, q) in enumerate(items) if q])
    reads = {p for r in flat.reads.values() for at, _ in r for p in at}
    assert seen == [(len(reads), len(reads))] and len(reads) < len(flat.ids)
    assert _max_diff(got, [score_packed(model, s, q) for s, q in items]) < 1e-5
