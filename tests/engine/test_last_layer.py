"""The last decoder layer's MLP runs on the read positions only, and the log-probs do not move."""

from contextlib import contextmanager

import pytest
import torch

from conftest import tiny_model
from monitor.engine import batch_scoring as bs
from monitor.engine.batch_scoring import score_packed_batch
from monitor.engine.last_layer import last_mlp, last_mlp_rows
from monitor.engine.scoring import score_naive

from test_batch_scoring import VOCAB, _items, _max_diff


@contextmanager
def _off(*_a, **_k):
    yield lambda: False


def _spy(monkeypatch, module) -> list[bool]:
    """Record, per pass, whether ``module``'s ``last_mlp_rows`` trimmed the MLP."""
    fired: list[bool] = []
    real = module.last_mlp_rows

    @contextmanager
    def spy(*a, **k):
        with real(*a, **k) as trimmed:
            yield trimmed
        fired.append(trimmed())

    monkeypatch.setattr(module, "last_mlp_rows", spy)
    return fired


@pytest.mark.parametrize("kind", ["qwen3", "llama", "gemma3"])
def test_trimmed_pass_equals_the_full_pass_and_naive(kind, monkeypatch):
    model = tiny_model(kind, vocab_size=VOCAB)
    items = _items(1)
    fired = _spy(monkeypatch, bs)
    got = score_packed_batch(model, items)
    assert fired and all(fired)  # every pass trimmed its last MLP
    monkeypatch.setattr(bs, "last_mlp_rows", _off)
    full = score_packed_batch(model, items)
    assert _max_diff(got, full) < 1e-6
    assert _max_diff(got, [score_naive(model, s, q) for s, q in items]) < 1e-4


def test_the_mlp_sees_only_the_read_rows_and_other_rows_keep_the_residual():
    model = tiny_model(vocab_size=VOCAB)
    mlp = last_mlp(model)
    assert mlp is model.model.layers[-1].mlp
    seen = []
    H = model.config.hidden_size
    ids = torch.randint(0, VOCAB, (2, 7))
    rows = torch.tensor([3, 9, 13])  # flat indices into (2, 7)
    with torch.inference_mode():
        full = model(input_ids=ids)
        with last_mlp_rows(model, rows, (2, 7)) as trimmed:
            # Registered after the trim's own hook, so it sees what the MLP computes on.
            handle = mlp.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
            try:
                cut = model(input_ids=ids)
            finally:
                handle.remove()
    assert trimmed() and seen == [(1, 3, H)]
    # The read rows' logits are the full pass's; the last layer's other rows are its input.
    a, b = full.logits.reshape(14, -1)[rows], cut.logits.reshape(14, -1)[rows]
    assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert not torch.allclose(full.logits.reshape(14, -1)[0], cut.logits.reshape(14, -1)[0])


def test_other_shapes_other_threads_and_models_without_layers_are_left_alone():
    import threading

    model = tiny_model(vocab_size=VOCAB)
    ids = torch.randint(0, VOCAB, (1, 5))
    with torch.inference_mode():
        ref = model(input_ids=ids).logits
        with last_mlp_rows(model, torch.tensor([0]), (2, 7)) as trimmed:  # a shape no call has
            assert torch.equal(model(input_ids=ids).logits, ref)
        assert not trimmed()
        out = {}
        with last_mlp_rows(model, torch.tensor([0]), (1, 5)) as trimmed:
            t = threading.Thread(target=lambda: out.setdefault("x", model(input_ids=ids).logits))
            t.start()
            t.join()
        assert not trimmed() and torch.equal(out["x"], ref)  # another thread's call is not trimmed

    class Bare(torch.nn.Module):
        config = model.config

    assert last_mlp(Bare()) is None
    with last_mlp_rows(Bare(), torch.tensor([0]), (1, 5)) as trimmed:
        pass
    assert not trimmed()


@pytest.mark.parametrize("method", ["packed", "cache"])
def test_one_sequence_paths_trim_too_and_give_the_same_logprobs(method, monkeypatch):
    from monitor.engine import scoring
    from monitor.engine.scoring import score_packed

    model = tiny_model(vocab_size=VOCAB)
    seq, qs = _items(4, lengths=(70,))[0]
    fired = _spy(monkeypatch, scoring)
    got = score_packed(model, seq, qs, method=method)
    assert fired and all(fired)
    monkeypatch.setattr(scoring, "last_mlp_rows", _off)
    full = score_packed(model, seq, qs, method=method)
    assert _max_diff([got], [full]) < 1e-6
    assert _max_diff([got], [score_naive(model, seq, qs)]) < 1e-4


class _Wrapped(torch.nn.Module):
    """The model's own MLP, with its output in another form."""

    def __init__(self, inner, form):
        super().__init__()
        self.inner, self.form = inner, form

    def forward(self, x):
        y = self.inner(x)
        if self.form == "tuple":  # as a mixture of experts: (hidden states, router logits)
            return y, torch.zeros(3)
        return y.reshape(-1, y.shape[-1])  # flat (B * N, H): the residual add broadcasts it at B = 1


def test_an_mlp_returning_a_tuple_is_trimmed_in_its_hidden_states():
    model = tiny_model(vocab_size=VOCAB)
    layer = model.model.layers[-1]
    layer.mlp = _Wrapped(layer.mlp, "tuple")
    x = torch.randn(2, 5, model.config.hidden_size)
    rows = torch.tensor([1, 7])
    with torch.inference_mode():
        ref, _ = layer.mlp(x)
        with last_mlp_rows(model, rows, (2, 5)) as trimmed:
            (got, aux) = layer.mlp(x)
    assert trimmed() and aux.shape == (3,)
    flat_ref, flat_got = ref.reshape(10, -1), got.reshape(10, -1)
    assert torch.allclose(flat_got[rows], flat_ref[rows], atol=1e-6, rtol=0)
    others = [i for i in range(10) if i not in (1, 7)]
    assert not flat_got[others].any()


def test_an_mlp_of_an_unknown_output_form_is_run_again_whole():
    model = tiny_model(vocab_size=VOCAB)
    layer = model.model.layers[-1]
    ids = torch.randint(0, VOCAB, (1, 9))
    rows = torch.tensor([2, 8])
    with torch.inference_mode():
        ref = model(input_ids=ids).logits
        layer.mlp = _Wrapped(layer.mlp, "flat")
        with last_mlp_rows(model, rows, (1, 9)) as trimmed:
            got = model(input_ids=ids).logits
    assert not trimmed()
    assert torch.allclose(got, ref, atol=1e-6, rtol=0)  # every row, not only the read ones
