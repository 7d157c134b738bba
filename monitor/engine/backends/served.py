"""A model served by another engine (vLLM in this process, or a server over HTTP), used as the
transformers path uses its :class:`~monitor.engine.models.LoadedModel`.

Only the tokenizer lives here. The engine is asked for two things, both on token ids, so the
monitor's own rules decide every id that enters it:

- **sampling**: one request per rollout, seeded by :func:`~monitor.engine.rollouts.rollout_seed`
  (run seed, prompt id, rollout index), so a resumed run or any batching asks for the same
  rollouts; the returned ids are cut, decoded and split exactly as on the transformers path
  (:func:`~monitor.engine.rollouts.make_rollout`);
- **forced log-probs**: every boundary x phrase as one prompt ``context ids + forced ids`` whose
  prompt log-probs at the forced positions are the scores. The engine's prefix cache shares a
  rollout's context between its boundaries where it can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..chat import ThinkMarkers
from ..models import ModelSpec, chat_template_entry
from ..rollouts import Rollout, RolloutRequest, _eos_ids, make_rollout, rollout_seed
from ..scoring import ForceQuery

__all__ = ["Engine", "ModelFacts", "ServedModel", "generate_served", "score_served", "eos_ids"]


class Engine(Protocol):
    """What the monitor asks of a serving engine. Every prompt is a list of token ids."""

    name: str
    """``vllm`` or ``openai-server`` (recorded in manifests)."""

    def sample(self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], *, max_new_tokens: int, temperature: float,
               top_p: float, top_k: int, stop_ids: Sequence[int]) -> list[list[int]]:
        """One completion per prompt (its own seed), stop ids included where one was sampled."""
        ...

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], starts: Sequence[int]) -> list[np.ndarray]:
        """For each prompt, the log-probs of its tokens ``starts[i]:`` given the tokens before each."""
        ...

    def describe(self) -> dict[str, Any]:
        """Manifest entry: engine name, version, server URL (never a key), settings that change numbers."""
        ...

    def close(self) -> None:
        """Free the engine (a no-op for a server, which outlives the monitor)."""
        ...


@dataclass
class ModelFacts:
    """What the pipeline reads of a model besides its weights: its context window and generation
    defaults. Stands where ``LoadedModel.model`` stands for the checks that read only these."""

    max_model_len: int | None
    """The engine's context window (``--max-model-len``), in tokens."""
    generation_config: Any = None
    """The model's ``GenerationConfig`` when its directory has one (sampling defaults, EOS ids)."""
    config: Any = field(init=False)
    """A config-shaped view with ``max_position_embeddings`` (what :mod:`monitor.engine.window` reads)."""

    def __post_init__(self) -> None:
        from types import SimpleNamespace

        self.config = SimpleNamespace(max_position_embeddings=self.max_model_len)


@dataclass
class ServedModel:
    """A model served by an :class:`Engine`, with its tokenizer loaded here."""

    engine: Engine
    """Samples and scores."""
    tokenizer: Any
    """The model's tokenizer, loaded locally and checked against the engine's."""
    spec: ModelSpec
    """What ``--model`` named (the tokenizer's source and the run's model id)."""
    model: ModelFacts
    """Context window and generation defaults (no weights)."""
    dtype: str = "auto"
    """The dtype the engine computes in, as it reports it."""

    @property
    def backend(self) -> str:
        return self.engine.name

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description for run manifests."""
        return {"id": self.spec.model_id, "revision": self.spec.revision, "dtype": self.dtype, "backend": self.engine.describe(),
                **chat_template_entry(self.spec)}

    def close(self) -> None:
        self.engine.close()


def eos_ids(served: ServedModel) -> set[int]:
    """The ids that end a rollout: the generation config's and the tokenizer's, as on the transformers path."""
    return _eos_ids(served.model, served.tokenizer)


def generate_served(served: ServedModel, requests: Sequence[RolloutRequest], *, seed: int, max_new_tokens: int,
                    temperature: float, top_p: float, top_k: int, markers: ThinkMarkers) -> list[Rollout]:
    """The requested rollouts, sampled by the engine, one seeded request each."""
    if not requests:
        return []
    seeds = [rollout_seed(seed, q.prompt_id, q.rollout) for q in requests]
    stops = eos_ids(served)
    outs = served.engine.sample([list(q.rendered.token_ids) for q in requests], seeds, max_new_tokens=max_new_tokens,
                                temperature=temperature, top_p=top_p, top_k=top_k, stop_ids=sorted(stops))
    return [
        make_rollout(served.tokenizer, prompt_id=q.prompt_id, rollout=q.rollout, seed=s, rendered=q.rendered,
                     completion_ids=ids, eos_ids=stops, markers=markers)
        for q, s, ids in zip(requests, seeds, outs)
    ]


def score_served(served: ServedModel, items: Sequence[tuple[Sequence[int], Sequence[ForceQuery]]]) -> list[list[np.ndarray]]:
    """Forced log-probs of every query of every item, as the packed scorers return them.

    Each query becomes the prompt ``seq[:context_len] + forced_ids``; the prompts go to the engine
    together, ordered so that those sharing a context follow each other (its prefix cache then
    computes a rollout's context once where it can).
    """
    flat = [(i, j, list(seq[: q.context_len]) + list(q.forced_ids), q.context_len)
            for i, (seq, queries) in enumerate(items) for j, q in enumerate(queries)]
    for _, _, _, c in flat:
        if c < 1:
            raise ValueError("A forced phrase needs at least one context token.")
    order = sorted(range(len(flat)), key=lambda k: (flat[k][0], flat[k][3]))
    lps = served.engine.prompt_logprobs([flat[k][2] for k in order], [flat[k][3] for k in order])
    out: list[list[np.ndarray]] = [[np.empty(0)] * len(q) for _, q in items]
    for k, lp in zip(order, lps):
        i, j, prompt, c = flat[k]
        if len(lp) != len(prompt) - c:
            raise RuntimeError(f"The engine returned {len(lp)} prompt log-probs for {len(prompt) - c} forced tokens.")
        out[i][j] = np.asarray(lp, dtype=np.float64)
    return out
