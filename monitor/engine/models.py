"""Load any Hugging Face causal LM and its tokenizer, by hub id, local directory or GGUF file.

Weights load from safetensors only (no pickle), ``trust_remote_code`` is off unless asked, and
every failure a user can cause (missing path, unknown id, no network, gated repo, bad dtype)
becomes one :class:`ModelLoadError` with the fix, not a stack trace.

A ``.gguf`` file (or a directory holding exactly one, and no ``config.json``) loads through
transformers' GGUF support, dequantized to the chosen dtype; it needs the ``gguf`` and
``accelerate`` packages (``pip install 'evalaware-monitor[gguf]'``). Such a model cannot be
``save_pretrained``: nothing here relies on that.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, ModelLoadError
from .allocator import keep_freed_memory

__all__ = [
    "DType", "Device", "ModelSpec", "LoadedModel", "load_model", "resolve_device", "resolve_dtype", "find_gguf",
    "SAMPLING_DEFAULTS", "sampling_defaults", "load_tokenizer",
]

# Qwen3's thinking-mode settings: used where the model's generation_config sets none.
SAMPLING_DEFAULTS = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
GGUF_INSTALL = "pip install 'evalaware-monitor[gguf]'"

DType = Literal["auto", "bfloat16", "float16", "float32"]
Device = Literal["auto", "cuda", "mps", "cpu"]
_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}


@dataclass(frozen=True)
class ModelSpec:
    """What to load and how."""

    model_id: str
    """Hugging Face hub id (``Qwen/Qwen3-8B``) or a local directory."""
    revision: str | None = None
    """Hub revision (branch, tag or commit); ignored for local directories."""
    dtype: str = "auto"
    """``auto`` (bf16 on a GPU that supports it, else fp32), ``bfloat16``/``bf16``, ``float16``/``fp16``, ``float32``/``fp32``."""
    device: str = "auto"
    """``auto`` (cuda, then mps, then cpu), ``cuda``, ``cuda:1``, ``mps`` or ``cpu``."""
    device_map: str | None = None
    """Passed to transformers (e.g. ``auto`` to shard a large model over several GPUs); overrides ``device``."""
    attn_implementation: str = "sdpa"
    """``sdpa`` (default) or ``eager``; scoring needs custom 4D masks, which flash-attention kernels do not take."""
    trust_remote_code: bool = False
    """Run the repository's own modelling code. Off unless the user turns it on."""
    chat_template: str | None = None
    """A Jinja chat template to use instead of the tokenizer's (for a base model that has none)."""

    def __post_init__(self) -> None:
        if not str(self.model_id).strip():
            raise ConfigError("Model id is empty: give a Hugging Face id (e.g. Qwen/Qwen3-8B) or a local directory.")
        dtype = _DTYPE_ALIASES.get(self.dtype, self.dtype)
        if dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise ConfigError(f"dtype {self.dtype!r} is not one of auto, bf16, fp16, fp32.")
        object.__setattr__(self, "dtype", dtype)
        if self.attn_implementation not in ("sdpa", "eager"):
            raise ConfigError(
                f"attn_implementation {self.attn_implementation!r}: token-forced scoring passes a custom 4D "
                "attention mask, which only 'sdpa' and 'eager' accept. Use sdpa (fast) or eager."
            )


@dataclass
class LoadedModel:
    """A model ready for sampling and scoring."""

    model: Any
    """The ``PreTrainedModel`` in eval mode."""
    tokenizer: Any
    """Its tokenizer (a fast tokenizer when one exists)."""
    spec: ModelSpec
    """How it was loaded."""
    device: Any
    """``torch.device`` of the input embeddings (where inputs go)."""
    dtype: Any
    """``torch.dtype`` of the weights."""
    revision: str | None = None
    """Resolved commit hash when known (recorded in run manifests)."""
    gguf: dict[str, Any] | None = None
    """For a model loaded from a GGUF file: its path, sha256 and that it was dequantized."""

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description for run manifests."""
        out = {
            "id": self.spec.model_id,
            "revision": self.revision or self.spec.revision,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "attn_implementation": self.spec.attn_implementation,
            "trust_remote_code": self.spec.trust_remote_code,
        }
        if self.gguf is not None:
            out["gguf"] = dict(self.gguf)
        return {**out, **chat_template_entry(self.spec)}


def chat_template_entry(spec: ModelSpec) -> dict[str, Any]:
    """The manifest's record of a supplied chat template (empty when the tokenizer's own is used)."""
    if spec.chat_template is None:
        return {}
    return {"chat_template": {"supplied": True, "sha256": hashlib.sha256(spec.chat_template.encode()).hexdigest(), "text": spec.chat_template}}


def sampling_defaults(model: Any) -> tuple[dict[str, float | int], dict[str, str]]:
    """Temperature, top-p and top-k from the model's ``generation_config`` where it sets them, else
    :data:`SAMPLING_DEFAULTS`; and, per setting, where it came from (``generation_config`` or ``monitor``).

    Only values the model's config sets explicitly count (transformers' own defaults, temperature
    1.0 and top-k 50, are not the model author's choice).
    """
    gen = getattr(model, "generation_config", None)
    try:
        explicit = gen.to_diff_dict() if gen is not None else {}
    except Exception:  # an odd generation config: fall back to the monitor's defaults
        explicit = {}
    values: dict[str, float | int] = {}
    source: dict[str, str] = {}
    for k, default in SAMPLING_DEFAULTS.items():
        v = explicit.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            values[k], source[k] = type(default)(v), "generation_config"
        else:
            values[k], source[k] = default, "monitor"
    return values, source


def resolve_device(device: str = "auto"):
    """The torch device for ``device``; ``auto`` prefers cuda, then mps, then cpu."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but no CUDA GPU is visible; use --device cpu or auto.")
    return torch.device(device)


def resolve_dtype(dtype: str, device) -> Any:
    """The torch dtype for ``dtype`` on ``device``; ``auto`` is bf16 on capable GPUs, else fp32."""
    import torch

    dtype = _DTYPE_ALIASES.get(dtype, dtype)
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def _looks_local(model_id: str) -> bool:
    # A hub id is "org/name"; anything else shaped like a path, or whose first component is a local
    # folder ("data/typo"), is a path: a typo must fail at once, not after the hub's network retries.
    first = model_id.split("/", 1)[0]
    return (model_id.startswith((".", "/", "~")) or "\\" in model_id or os.sep in model_id.strip("/").split("/", 1)[-1]
            or Path(model_id).expanduser().exists() or ("/" in model_id and bool(first) and Path(first).expanduser().is_dir()))


def _explain(model_id: str, err: Exception) -> str:
    msg = str(err).splitlines()[0] if str(err) else type(err).__name__
    low = str(err).lower()
    if "offline" in low or "connect" in low or "resolve" in low or "network" in low or "timed out" in low:
        hint = "the Hugging Face hub cannot be reached (no network?). Download the model elsewhere and pass its local directory."
    elif "gated" in low or "401" in low or "403" in low:
        hint = "the repository is gated or private: accept its licence and set HF_TOKEN, or use a local copy."
    elif "not a valid model identifier" in low or "404" in low or "does not appear to have" in low or "repository not found" in low:
        hint = "no such model id or the repository has no safetensors weights; check the spelling, or pass a local directory."
    else:
        hint = "check the id or path, and that it holds a causal LM with safetensors weights."
    return f"Cannot load model {model_id!r}: {hint} ({type(err).__name__}: {msg})"


def find_gguf(model_id: str) -> Path | None:
    """The GGUF file ``model_id`` names: the file itself, or the one ``.gguf`` in a directory without ``config.json``."""
    path = Path(model_id).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {str(path)!r} does not exist. Pass an existing .gguf file or a model directory.")
        return path
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(path.glob("*.gguf"))
        if len(found) > 1:
            names = ", ".join(f.name for f in found[:5])
            raise ModelLoadError(f"{str(path)!r} holds several GGUF files ({names}); pass the one to load: --model {found[0]}")
        if found:
            return found[0]
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source(spec: ModelSpec) -> tuple[str, dict[str, Any], Path | None]:
    """Where transformers reads ``spec`` from: (id or directory, from_pretrained arguments, GGUF file or None)."""
    gguf = find_gguf(spec.model_id) if _looks_local(spec.model_id) else None
    model_id = str(Path(spec.model_id).expanduser()) if _looks_local(spec.model_id) else spec.model_id
    if gguf is None and _looks_local(spec.model_id) and not Path(model_id).is_dir():
        raise ModelLoadError(f"Model directory {model_id!r} does not exist. Pass an existing local directory, a .gguf file or a Hugging Face id.")
    if gguf is None:
        return model_id, {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}, None
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelLoadError(f"Loading a GGUF file needs the {' and '.join(missing)} package(s): {GGUF_INSTALL}")
    return str(gguf.parent), {"gguf_file": gguf.name, "trust_remote_code": spec.trust_remote_code}, gguf


def load_tokenizer(spec: ModelSpec) -> tuple[Any, Any]:
    """The tokenizer and generation config (None when there is none) of ``spec``, without its weights.

    For a model served elsewhere (vLLM): a tokenizer-only directory, a GGUF file's header or a hub
    id is enough. The chat template and the pad token are set as :func:`load_model` sets them.
    """
    from transformers import AutoTokenizer, GenerationConfig

    model_id, common, _ = _source(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, **common)
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as e:
        raise ModelLoadError(_explain(spec.model_id, e).replace("Cannot load model", "Cannot load the tokenizer of")) from None
    try:
        generation_config = GenerationConfig.from_pretrained(model_id, **common)
    except (OSError, ValueError, KeyError, TypeError):  # a tokenizer-only directory has none: the defaults apply
        generation_config = None
    if spec.chat_template is not None:
        tokenizer.chat_template = spec.chat_template
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, generation_config


def load_model(spec: ModelSpec | str, **overrides: Any) -> LoadedModel:
    """Load a causal LM + tokenizer. ``spec`` may be a :class:`ModelSpec` or a model id/path."""
    if isinstance(spec, str):
        spec = ModelSpec(spec, **overrides)
    elif overrides:
        raise ConfigError("Pass either a ModelSpec or a model id with keyword settings, not both.")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # A process that loads a model runs forward passes: keep their freed activations mapped
    # (allocator.py; ~20% of a CPU scoring pass went to page faults without it).
    keep_freed_memory()
    model_id, common, gguf = _source(spec)
    device = None if spec.device_map else resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device or torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    weights: dict[str, Any] = {"use_safetensors": True} if gguf is None else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, **common)
        model = AutoModelForCausalLM.from_pretrained(
            model_id,
            dtype=dtype,
            attn_implementation=spec.attn_implementation,
            device_map=spec.device_map,
            **weights,
            **common,
        )
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as e:
        if gguf is not None:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelLoadError(
                f"Cannot load GGUF file {str(gguf)!r}: transformers could not read it ({type(e).__name__}: {msg}). "
                "Check that its architecture is one transformers' GGUF support covers, or convert it to a model directory."
            ) from None
        raise ModelLoadError(_explain(spec.model_id, e)) from None
    if device is not None:
        model.to(device)
    model.eval()
    if spec.chat_template is not None:
        tokenizer.chat_template = spec.chat_template
    if tokenizer.pad_token_id is None:
        # Generation pads finished sequences; EOS is the conventional stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    in_device = model.get_input_embeddings().weight.device
    revision = getattr(model.config, "_commit_hash", None)
    gguf_info = None if gguf is None else {"file": str(gguf.resolve()), "sha256": _sha256(gguf), "dequantized": True}
    return LoadedModel(model=model, tokenizer=tokenizer, spec=spec, device=in_device, dtype=model.dtype, revision=revision, gguf=gguf_info)
