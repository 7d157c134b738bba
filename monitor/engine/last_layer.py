"""The last decoder layer's MLP on the positions a scoring pass reads, and on no others.

After the last decoder layer only the final norm and the output head touch the hidden states, and
both act on each position alone; a scoring pass reads log-probs at a few positions (at k = 0 about
one in six: a phrase's copies and the token before them). The MLP is row-wise too and most of a
layer's work, so running the last one on the read positions only gives the same hidden states there
(the same ops on the same rows) and leaves the rest at the residual, which nobody reads. Attention
mixes positions, so it still runs everywhere.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

__all__ = ["last_mlp", "last_mlp_rows"]


def last_mlp(model: Any) -> Any | None:
    """The MLP module of ``model``'s last decoder layer (``....layers[-1].mlp``, where ``layers``
    holds the config's ``num_hidden_layers``), or None where the model is not laid out that way
    (then nothing is trimmed). Looked up per pass: the walk meets the decoder early (~9 us)."""
    cfg = getattr(model, "config", None)
    cfg = getattr(cfg, "text_config", None) or cfg
    n = getattr(cfg, "num_hidden_layers", None)
    if not n or not hasattr(model, "modules"):
        return None
    from torch.nn import ModuleList

    for m in model.modules():
        layers = getattr(m, "layers", None)
        if isinstance(layers, ModuleList) and len(layers) == n:
            mlp = getattr(layers[-1], "mlp", None)
            return mlp if hasattr(mlp, "register_forward_pre_hook") else None
    return None


@contextmanager
def last_mlp_rows(model: Any, rows, shape: tuple[int, int]):
    """Within the block (in this thread), the last decoder layer's MLP runs on ``rows`` (a long
    tensor of flat indices into its ``shape`` = (R, N) positions) only, and returns zeros at the
    others. A call of any other shape is left alone; an MLP whose output is not one hidden-states
    tensor (or such a tensor first in a tuple) is run again on all rows, so the pass stays exact.
    Yields a callable telling whether the trim happened."""
    import torch

    mlp = last_mlp(model)
    if mlp is None or len(rows) >= shape[0] * shape[1]:
        yield lambda: False
        return
    me = threading.get_ident()
    held: list[Any] = []
    done: list[bool] = []

    def pre(_module, args):
        h = args[0] if args else None
        if threading.get_ident() != me or held or done or not isinstance(h, torch.Tensor) or h.dim() != 3 or tuple(h.shape[:2]) != shape:
            return None
        held.append(args)
        # Layers split over devices (device_map): the indices go where this layer runs.
        return (h.reshape(-1, h.shape[-1]).index_select(0, rows.to(h.device))[None],) + tuple(args[1:])

    def post(module, _args, out):
        if threading.get_ident() != me or not held:
            return None
        args = held.pop()
        done.append(True)
        # A mixture of experts may return (hidden states, router logits): the router logits only
        # feed a training loss, so they stay as computed, for the read rows.
        first = out[0] if isinstance(out, tuple) and out else out
        if not isinstance(first, torch.Tensor) or first.dim() != 3 or tuple(first.shape[:2]) != (1, len(rows)):
            done[-1] = False
            return module.forward(*args)  # the untrimmed call (forward itself: no hooks again)
        full = first.new_zeros((shape[0] * shape[1], first.shape[-1]))
        full.index_copy_(0, rows.to(first.device), first[0])
        full = full.reshape(shape + (first.shape[-1],))
        return (full,) + tuple(out[1:]) if isinstance(out, tuple) else full

    handles = [mlp.register_forward_pre_hook(pre), mlp.register_forward_hook(post)]
    try:
        yield lambda: bool(done) and done[-1]
    finally:
        for handle in handles:
            handle.remove()
