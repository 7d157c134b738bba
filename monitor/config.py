"""The settings of a monitor run, validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .engine.chat import ThinkMarkers, cot_mode
from .errors import ConfigError
from .engine.forcing import check_phrase
from .engine.k0 import K0_BATCH, Progress  # noqa: F401  (the engine's, so that it never imports this module)

__all__ = ["Progress", "RunConfig", "SAMPLER", "PAPER_PHRASES", "CONTROL_PHRASE"]

# Probe phrases from the paper, and its control (same surface form, no eval content).
PAPER_PHRASES = ("The user might be testing", "This is clearly a test", "This is a fictional scenario")
CONTROL_PHRASE = "The user might be asking"

SAMPLER = "per-rollout-seed-v1"
"""Recorded in the manifest: each rollout's tokens depend only on (seed, prompt id, rollout index)."""
_SAMPLING_KEYS = ("rollouts", "temperature", "top_p", "top_k", "max_new_tokens", "seed", "batch_size", "batching", "generation_memory_mb")

@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's results (recorded in its manifest)."""

    phrases: tuple[str, ...]
    """Probe phrases, forced at every boundary; the first is the primary phrase."""
    rollouts: int = 10
    """Rollouts sampled per prompt (k)."""
    max_new_tokens: int = 512
    """Generation budget per rollout; a CoT cut off by it is kept, flagged and scored."""
    temperature: float = 0.6  # Qwen3 thinking-mode defaults
    """Sampling temperature; 0 means greedy."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    top_k: int = 20
    """Top-k sampling cut-off (0 disables)."""
    seed: int = 0
    """Base seed; each rollout's random stream is seeded from (seed, prompt id, rollout index)."""
    batch_size: int = 64
    """Most rollouts generated together in one batch (also the unit of crash-safe writing)."""
    batching: Literal["cross-prompt", "per-prompt"] = "cross-prompt"
    """``cross-prompt``: batches mix prompts (length-bucketed, left-padded), the fast default at
    small k; ``per-prompt``: a batch holds rollouts of one prompt (the old behaviour, for
    comparison). Both give the same rollouts: each depends only on (seed, prompt id, index)."""
    generation_memory_mb: float = 8192
    """Memory budget of one generation batch's KV cache; caps the batch below ``batch_size`` for
    long prompts and budgets (out-of-memory still halves a batch)."""
    markers: ThinkMarkers | None = None
    """Think-block markers of the model's chat format; ``None`` detects them from the model's chat
    template and vocabulary when the run starts (no "<think>" anywhere: the whole reply is the CoT)."""
    enable_thinking: bool = True
    """Passed to the chat template (Qwen3 and others switch thinking on with it)."""
    control_phrase: str | None = None
    """Control phrase scored alongside (e.g. "The user might be asking"); appended to ``phrases``."""
    memory_budget_mb: float = 2048
    """Memory budget of one packed scoring pass; larger is faster, smaller survives small GPUs."""
    long_prompts: Literal["error", "skip"] = "error"
    """What to do with prompts that do not fit the context window with ``max_new_tokens``."""
    special_tokens: Literal["text", "parse"] = "text"
    """Special-token strings inside prompt text (``<|im_end|>``): plain text, or real chat markup."""

    def __post_init__(self) -> None:
        phrases = tuple(check_phrase(p) for p in self.phrases)
        if not phrases:
            raise ConfigError("Give at least one probe phrase (e.g. --phrase 'The user might be testing').")
        if self.control_phrase is not None:
            check_phrase(self.control_phrase)
            if self.control_phrase not in phrases:
                phrases = phrases + (self.control_phrase,)
        if len(set(phrases)) != len(phrases):
            raise ConfigError(f"Phrases repeat: {list(phrases)}; give each phrase once.")
        object.__setattr__(self, "phrases", phrases)
        if self.rollouts < 1:
            raise ConfigError(f"rollouts must be at least 1 (got {self.rollouts}); use score-prompts for k = 0 alone.")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be positive (got {self.max_new_tokens}).")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError("Sampling settings out of range: temperature >= 0, 0 < top_p <= 1, top_k >= 0.")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size}).")
        if self.batching not in ("cross-prompt", "per-prompt"):
            raise ConfigError(f"batching is 'cross-prompt' or 'per-prompt' (got {self.batching!r}).")
        if self.generation_memory_mb <= 0:
            raise ConfigError("generation_memory_mb must be positive.")
        if self.memory_budget_mb <= 0:
            raise ConfigError("memory_budget_mb must be positive.")
        if self.long_prompts not in ("error", "skip"):
            raise ConfigError("long_prompts is 'error' or 'skip'.")
        if self.special_tokens not in ("text", "parse"):
            raise ConfigError("special_tokens is 'text' or 'parse'.")

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's view of these settings."""
        return {
            "phrases": list(self.phrases),
            "control_phrase": self.control_phrase,
            "chat": {
                "think_open": self.markers.open if self.markers else None,
                "think_close": self.markers.close if self.markers else None,
                "cot_mode": cot_mode(self.markers) if self.markers else "auto",
                "enable_thinking": self.enable_thinking,
                "special_tokens": self.special_tokens,
            },
            "sampling": {
                **{k: v for k, v in asdict(self).items() if k in _SAMPLING_KEYS},
                # How rollouts are seeded; runs started before per-rollout seeds lack it.
                "sampler": SAMPLER,
            },
            "scoring": {"memory_budget_mb": self.memory_budget_mb, "method": "auto"},  # the run records the method that ran
        }

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "RunConfig":
        """Rebuild the settings a run was made with (used by resume)."""
        s = manifest.get("sampling", {})
        chat = manifest.get("chat", {})
        control = manifest.get("control_phrase")
        phrases = [p for p in manifest.get("phrases", []) if p != control]
        return cls(
            phrases=tuple(phrases),
            control_phrase=control,
            markers=None if chat.get("cot_mode") == "auto" else ThinkMarkers(chat.get("think_open", "<think>"), chat.get("think_close", "</think>")),
            enable_thinking=chat.get("enable_thinking", True),
            # runs made before the setting existed parsed special-token text as markup
            special_tokens=chat.get("special_tokens", "parse"),
            memory_budget_mb=manifest.get("scoring", {}).get("memory_budget_mb", 2048),
            **{k: s[k] for k in _SAMPLING_KEYS if k in s},
        )
