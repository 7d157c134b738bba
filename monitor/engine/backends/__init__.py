"""Where rollouts are sampled and phrases scored: the backends behind one interface.

- ``transformers`` (default): the model in this process, :func:`monitor.engine.models.load_model`
  (packed scoring, kept generation caches; see :mod:`monitor.engine.scoring`).
- ``vllm``: vLLM's offline engine in this process (:mod:`.vllm_engine`), for models and scales
  that vLLM serves (tensor/pipeline parallel, prefix caching).
- ``openai-server``: a running ``vllm serve`` over HTTP (:mod:`.openai_server`); only the
  tokenizer is loaded here.

The last two give a :class:`~.served.ServedModel`, which the pipeline, k = 0 scoring and ingest
take wherever they take a ``LoadedModel``: the same prompts, the same tokenization rule, the same
boundaries and rows; only the forward passes happen elsewhere.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ..models import ModelSpec, load_tokenizer
from .served import Engine, ModelFacts, ServedModel, eos_ids, generate_served, score_served

__all__ = ["BACKENDS", "open_backend", "is_served", "backend_name", "ServedModel", "Engine", "ModelFacts",
           "generate_served", "score_served", "eos_ids"]

BACKENDS = ("transformers", "vllm", "openai-server")


def is_served(loaded: Any) -> bool:
    """True for a model served by another engine (no weights in this process)."""
    return isinstance(loaded, ServedModel)


def backend_name(loaded: Any) -> str:
    return loaded.backend if isinstance(loaded, ServedModel) else "transformers"


def open_backend(backend: str, spec: ModelSpec, *, base_url: str | None = None, api_key_env: str | None = None,
                 served_model: str | None = None, tensor_parallel_size: int = 1, pipeline_parallel_size: int = 1,
                 max_model_len: int | None = None, seed: int = 0) -> ServedModel:
    """A :class:`ServedModel` on ``backend`` (``vllm`` or ``openai-server``), its tokenizer checked
    against the engine's before any work."""
    if backend not in ("vllm", "openai-server"):
        raise ConfigError(f"backend {backend!r} is not one of vllm, openai-server (transformers loads with load_model).")
    if backend == "openai-server" and not base_url:
        raise ConfigError("--backend openai-server needs --base-url (e.g. http://127.0.0.1:8000/v1, where vllm serve listens).")
    if backend == "vllm" and base_url:
        raise ConfigError("--base-url is for --backend openai-server; --backend vllm runs the engine in this process.")
    tokenizer, generation_config = load_tokenizer(spec)
    engine: Any
    if backend == "vllm":
        from pathlib import Path

        from .vllm_engine import VllmEngine, check_parallel

        check_parallel(tensor_parallel_size, pipeline_parallel_size)
        local = Path(spec.model_id).expanduser()
        engine = VllmEngine(str(local) if local.exists() else spec.model_id, dtype=spec.dtype, seed=seed, max_model_len=max_model_len,
                            tensor_parallel_size=tensor_parallel_size, pipeline_parallel_size=pipeline_parallel_size,
                            trust_remote_code=spec.trust_remote_code, revision=spec.revision)
        _same_vocabulary(tokenizer, engine.vocabulary(), where="vLLM's tokenizer")
        dtype = engine.dtype
    else:
        from .openai_server import ServerEngine

        engine = ServerEngine(base_url or "", api_key_env=api_key_env, served_model=served_model)
        engine.vocabulary_check(tokenizer)
        dtype = "server"
    window = engine.max_model_len
    if max_model_len is not None and window is not None:
        window = min(window, max_model_len)
    return ServedModel(engine=engine, tokenizer=tokenizer, spec=spec, model=ModelFacts(window, generation_config), dtype=dtype)


def _same_vocabulary(local: Any, other: Any, *, where: str) -> None:
    from .openai_server import _PROBE

    a = list(local(_PROBE, add_special_tokens=False)["input_ids"])
    b = list(other(_PROBE, add_special_tokens=False)["input_ids"])
    if len(local) != len(other) or a != b:
        raise ConfigError(f"{where} differs from the local tokenizer (vocabulary {len(other)} vs {len(local)}); "
                          "load both from the same model.")
