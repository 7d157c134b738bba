"""Packed token-forced scoring equals the naive method (one pass per query) in fp32."""

import numpy as np
import pytest
import torch

from conftest import tiny_model
from monitor.errors import ConfigError
from monitor.engine.scoring import ForceQuery, score_naive, score_packed

VOCAB = 300


def _queries(seed: int, T: int, n: int = 24) -> list[ForceQuery]:
    g = np.random.default_rng(seed)
    return [ForceQuery(int(c), tuple(int(x) for x in g.integers(0, VOCAB, int(g.integers(1, 7))))) for c in g.integers(1, T + 1, n)]


@pytest.mark.parametrize("method", ["cache", "packed"])
@pytest.mark.parametrize("kind", ["qwen3", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_naive(kind, attn, method):
    model = tiny_model(kind, vocab_size=VOCAB, attn=attn)
    seq = torch.randint(0, VOCAB, (150,), generator=torch.Generator().manual_seed(1)).tolist()
    qs = _queries(2, len(seq))
    packed = score_packed(model, seq, qs, method=method)
    naive = score_naive(model, seq, qs)
    assert [len(p) for p in packed] == [len(q.forced_ids) for q in qs]
    assert max(float(np.abs(a - b).max()) for a, b in zip(packed, naive)) < 1e-4


@pytest.mark.parametrize("method", ["cache", "packed"])
def test_chunked_under_tiny_budget_equals_single_pass(method):
    model = tiny_model(vocab_size=VOCAB)
    seq = torch.randint(0, VOCAB, (120,), generator=torch.Generator().manual_seed(3)).tolist()
    qs = _queries(4, len(seq), n=30)
    one = score_packed(model, seq, qs, memory_budget_mb=1024, method=method)
    many = score_packed(model, seq, qs, memory_budget_mb=0.05, method=method)  # one query per chunk
    assert max(float(np.abs(a - b).max()) for a, b in zip(one, many)) < 1e-5


def test_sliding_window_layers_are_masked_per_layer_type():
    # Qwen3 with sliding-window layers: the window (8) is far shorter than the contexts, so a
    # mask without the window would give visibly different log-probs.
    model = tiny_model(vocab_size=VOCAB, use_sliding_window=True, sliding_window=8, max_window_layers=1)
    assert "sliding_attention" in model.config.layer_types
    seq = torch.randint(0, VOCAB, (80,), generator=torch.Generator().manual_seed(5)).tolist()
    qs = _queries(6, len(seq), n=12)
    packed = score_packed(model, seq, qs)  # auto picks the single-pass method here
    naive = score_naive(model, seq, qs)
    assert max(float(np.abs(a - b).max()) for a, b in zip(packed, naive)) < 1e-4
    with pytest.raises(ConfigError, match="sliding-window"):
        score_packed(model, seq, qs, method="cache")


def test_cache_is_cropped_back_between_chunks():
    # Many chunks through one cache: if a chunk's copies stayed in the cache, later chunks would
    # attend to them and drift from the naive reference.
    model = tiny_model(vocab_size=VOCAB)
    seq = torch.randint(0, VOCAB, (60,), generator=torch.Generator().manual_seed(8)).tolist()
    qs = _queries(9, len(seq), n=20)
    many = score_packed(model, seq, qs, memory_budget_mb=0.01, method="cache")
    naive = score_naive(model, seq, qs)
    assert max(float(np.abs(a - b).max()) for a, b in zip(many, naive)) < 1e-4


def test_log_probs_are_normalised():
    model = tiny_model(vocab_size=VOCAB)
    seq = [5, 6, 7, 8]
    # Summing P(next = v) over the whole vocabulary at one boundary must give 1.
    qs = [ForceQuery(4, (v,)) for v in range(VOCAB)]
    total = sum(float(np.exp(lp[0])) for lp in score_packed(model, seq, qs))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_bad_queries_are_rejected():
    model = tiny_model(vocab_size=VOCAB)
    with pytest.raises(ConfigError):
        score_packed(model, [1, 2, 3], [ForceQuery(0, (1,))])
    with pytest.raises(ConfigError):
        score_packed(model, [1, 2, 3], [ForceQuery(2, ())])
    assert score_packed(model, [1, 2, 3], []) == []


@pytest.mark.parametrize("method", ["cache", "packed"])
def test_out_of_memory_splits_the_chunk_and_stays_exact(method, monkeypatch, caplog):
    import monitor.engine.scoring as sc

    model = tiny_model(vocab_size=VOCAB)
    seq = torch.randint(0, VOCAB, (90,), generator=torch.Generator().manual_seed(12)).tolist()
    qs = _queries(13, len(seq), n=16)
    real_collect = sc._collect

    def collect_or_oom(queries, idx, *args, **kw):
        # Fails after the forward pass has run (for the cache method, after the copies entered the
        # cache), so recovery must also restore the cache.
        if len(idx) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_collect(queries, idx, *args, **kw)

    monkeypatch.setattr(sc, "_collect", collect_or_oom)
    with caplog.at_level("WARNING"):
        got = score_packed(model, seq, qs, method=method)
    assert "splitting the chunk" in caplog.text
    naive = score_naive(model, seq, qs)
    assert max(float(np.abs(a - b).max()) for a, b in zip(got, naive)) < 1e-4


def test_cached_scoring_uses_no_deprecated_transformers_argument():
    # Fails loudly when transformers deprecates what scoring calls (past_key_values went this way).
    import warnings

    model = tiny_model(vocab_size=VOCAB)
    seq = torch.randint(0, VOCAB, (40,), generator=torch.Generator().manual_seed(5)).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        score_packed(model, seq, _queries(6, len(seq), n=6), method="cache")


def test_resolved_method_names_what_runs():
    from monitor.engine.scoring import resolve_method

    assert resolve_method(tiny_model(vocab_size=VOCAB)) == "cache"
    window = tiny_model(vocab_size=VOCAB, use_sliding_window=True, sliding_window=8, max_window_layers=1)
    assert resolve_method(window) == "packed" and resolve_method(window, "packed") == "packed"
    with pytest.raises(ConfigError):
        resolve_method(window, "cache")
