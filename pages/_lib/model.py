"""Choosing and loading a model from a page (loaded once per process, see :class:`pages._lib.jobs.ModelCache`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from monitor.errors import InputError
from pages._lib import open_run
from pages._lib import shared as _shared
from pages._lib import text as _text
from pages._lib import jobs as _jobs


@dataclass(frozen=True)
class ModelChoice:
    """What the user picked in :func:`model_inputs`."""

    model_id: str
    """Hugging Face id or local path (relative paths resolve against the repository root)."""
    device: str
    """``auto`` (GPU when there is one), ``cpu``, ``cuda``, ``mps``."""
    dtype: str
    """``auto``, ``float32``, ``bfloat16``, ``float16``."""
    trust_remote_code: bool
    """Run code shipped with the model (off unless the user turns it on)."""
    chat_template: str = ""
    """A Jinja chat template for a model without one ("" keeps the tokenizer's)."""
    backend: str = "transformers"
    """Where sampling and scoring run: ``transformers`` (here), ``vllm`` (vLLM in this process) or
    ``openai-server`` (a running ``vllm serve``; only the tokenizer loads here)."""
    base_url: str = ""
    """The server for ``openai-server`` (e.g. ``http://127.0.0.1:8000/v1``)."""

    def resolved_id(self) -> str:
        """The id to load: as typed when it loads from here (so runs record ``data/demo_model`` like the
        CLI does and a resume or rescore matches it), made absolute when only the repository root has it."""
        if _shared.enabled():  # only a folder under the shared root, the demo model, or a hub id
            p = open_run.resolve_path(self.model_id, what="model directory") if self.model_id.startswith(("/", "~", ".")) else (
                Path(open_run.ROOT / self.model_id) if (open_run.ROOT / self.model_id).resolve().is_relative_to(open_run.ROOT / "data")
                else _shared.root() / self.model_id)
            _shared.check_model_id(self.model_id, p)
            return str(p) if p.exists() else self.model_id
        if Path(self.model_id).expanduser().exists():
            return self.model_id
        p = open_run.resolve_path(self.model_id)
        return str(p) if p.exists() else self.model_id


def default_model(run_model: str = "") -> str:
    """The run's model when it can be loaded from here, else the bundled demo model."""
    try:
        here = open_run.resolve_path(run_model).exists() if run_model else False
    except InputError:  # shared mode: the run's model folder is outside the root
        here = False
    if run_model and (here or ("/" in run_model and not run_model.startswith(("synthetic", "."))) and not run_model.startswith("/")):
        return run_model
    return str(open_run.DEMO_MODEL.relative_to(open_run.ROOT))


def gpu_line() -> str:
    """Which accelerator a model with device 'auto' will use."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)} (device 'auto' uses it)"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "Apple GPU (mps) available; device 'auto' uses it"
    except Exception:
        pass
    return "No GPU found: the model runs on the CPU (fine for the demo model; slow for real ones)."


def missing_local_path(model_id: str) -> str | None:
    """An error message when ``model_id`` is written as a local path and no such directory exists, else None.

    A path-like id (absolute, ``./``, ``~``, a backslash, two or more ``/``, or a first component that is a
    local folder such as ``data/``) never goes to the hub: a typo there should fail at once, not after
    the hub's timeouts with a message about the network.
    """
    mid = model_id.strip()
    if not mid:
        return None
    try:
        path_like = (mid.startswith(("/", "./", "../", "~", ".\\")) or "\\" in mid or mid.count("/") >= 2
                     or ("/" in mid and open_run.resolve_path(mid.split("/")[0]).is_dir()))
        if _shared.enabled():  # only the root is looked at, and the message is the same whether a path exists elsewhere
            if path_like:
                _shared.check_model_id(mid, open_run.resolve_path(mid, what="model directory"))
            return None
    except InputError as e:
        return _text.md(e)
    if not path_like or Path(mid).expanduser().exists() or open_run.resolve_path(mid).exists():
        return None
    return (f"The model directory {_text.code(mid)} does not exist (looked at {_text.code(Path(mid).expanduser().absolute())} and "
            f"under {_text.code(open_run.ROOT)}). Check the path; a Hugging Face id has the form `org/name`.")


def vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def backend_inputs(prefix: str) -> tuple[str, str]:
    """Backend selector (and the server URL for ``openai-server``); transformers alone in shared mode,
    where a visitor must not make the app load engines or call addresses of their choosing."""
    from pages._lib import view_state

    if _shared.enabled():
        return "transformers", ""
    options = ["transformers", *(["vllm"] if vllm_installed() else []), "openai-server"]
    kept = view_state.kept(f"{prefix}.backend", "transformers")
    b1, b2 = st.columns([2, 4])
    backend = b1.selectbox("Backend", options, index=options.index(kept) if kept in options else 0, key=f"{prefix}.backend",
                           help="transformers: the model in this process. vllm: vLLM's engine in this process (the [vllm] extra). "
                                "openai-server: a running `vllm serve`; only the tokenizer loads here, the model named above "
                                "must be the served one (checked before any work).")
    view_state.keep(f"{prefix}.backend", backend)
    url = ""
    if backend == "openai-server":
        url = b2.text_input("Server URL", value=view_state.kept(f"{prefix}.base_url", "http://127.0.0.1:8000/v1"), key=f"{prefix}.base_url",
                            help="Where `vllm serve` listens. An API key is read from the VLLM_API_KEY environment variable of the app's process, if set.")
        view_state.keep(f"{prefix}.base_url", url)
    elif backend == "vllm":
        b2.caption("vLLM loads the model once in this process (a minute on a CPU), then reuses it.")
    return backend, url.strip()


def model_inputs(prefix: str, *, default_id: str, backends: bool = False) -> ModelChoice:
    """Model id/path, device and dtype inputs (keys under ``prefix``); ``backends`` adds the backend selector."""
    c1, c2, c3 = st.columns([4, 1, 1])
    with c1:
        from pages._lib import view_state

        mid = st.text_input("Model (Hugging Face id or local path)", value=view_state.kept(f"{prefix}.model", default_id), key=f"{prefix}.model",
                            help="The demo model `data/demo_model` works offline. Any causal LM with a chat template: "
                                 "e.g. `Qwen/Qwen3-8B` on a GPU box, a local directory with safetensors weights, or a "
                                 "`.gguf` file (dequantized; needs `pip install 'evalaware-monitor[gguf]'`).")
    with c2:
        device = st.selectbox("Device", ["auto", "cpu", "cuda", "mps"], key=f"{prefix}.device")
    with c3:
        dtype = st.selectbox("dtype", ["auto", "float32", "bfloat16", "float16"], key=f"{prefix}.dtype")
    # Shared mode: remote code never runs, so the box is not offered at all.
    trust = False if _shared.enabled() else st.checkbox("Trust remote code (runs Python shipped with the model)", value=False,
                                                       key=f"{prefix}.trust")
    view_state.keep(f"{prefix}.model", mid)
    missing = missing_local_path(mid)
    if missing:
        st.error(missing, icon=":material/folder_off:")
    with st.expander("Chat template (only for a model without one, e.g. a base model)"):
        template = st.text_area("Jinja chat template", value="", key=f"{prefix}.chat_template", height=120,
                                help="Used instead of the tokenizer's template; recorded in the run's manifest.")
    backend, url = backend_inputs(prefix) if backends else ("transformers", "")
    st.caption("The model runs on the server; only its tokenizer loads here (device and dtype are the server's)."
               if backend == "openai-server" else gpu_line())
    return ModelChoice(mid.strip(), device, dtype, trust, template if template.strip() else "", backend, url)


def load(choice: ModelChoice):
    """The loaded model (cached across reruns and sessions); raises ModelLoadError with the fix."""
    from monitor.errors import ModelLoadError

    if not choice.model_id:
        raise ModelLoadError("No model given: type a Hugging Face id or a local path (the demo model is data/demo_model).")
    cache = _jobs.models()
    if _jobs.ModelCache.key_of(choice.resolved_id(), choice.device, choice.dtype, choice.trust_remote_code, choice.chat_template or None,
                               choice.backend, choice.base_url) in cache.loaded():
        return get(choice)
    where = f" on {choice.backend}" if choice.backend != "transformers" else ""
    with st.spinner(f"Loading {_text.md(choice.model_id)}{where} (once; later reruns reuse it)…"):
        return get(choice)


def get(choice: ModelChoice):
    """The loaded model without any UI (safe to call from a job thread)."""
    from monitor.errors import ModelLoadError

    missing = missing_local_path(choice.model_id)
    if missing:
        raise ModelLoadError(missing.replace("`", ""))
    return _jobs.models().get(choice.resolved_id(), device=choice.device, dtype=choice.dtype, trust_remote_code=choice.trust_remote_code,
                              chat_template=choice.chat_template or None, backend=choice.backend, base_url=choice.base_url)


def cached(choice: ModelChoice):
    """The loaded model when it is already in memory (loaded by a run, the workbench, ...), else None; never loads."""
    key = (choice.resolved_id(), choice.device, choice.dtype, choice.trust_remote_code, choice.chat_template or None)
    return get(choice) if choice.model_id and key in _jobs.models().loaded() else None


def special_token_notes(tokenizer, prompts, *, limit: int = 10) -> list[str]:
    """One line per prompt holding special-token text (as ``monitor run`` prints them), at most ``limit`` and a count.

    The same check as the command line and the workbench (:func:`monitor.engine.special.special_strings_in`):
    such text is scored as plain text, not as chat markup, and the user should know before reading the scores."""
    from monitor.engine.special import describe, special_strings_in

    hits = [(p.prompt_id, found) for p in prompts if (found := special_strings_in(tokenizer, p))]
    notes = [f"Prompt {pid} contains special-token text ({describe(found)}): it is kept as plain text, not parsed as chat markup."
             for pid, found in hits[:limit]]
    if len(hits) > limit:
        notes.append(f"{len(hits) - limit} more prompt(s) contain special-token text.")
    return notes


def demo_model_missing() -> bool:
    """True when the bundled demo model is not in this checkout."""
    return not (Path(open_run.DEMO_MODEL) / "config.json").exists()


def as_run_model(loaded, run_model_id: str):
    """``loaded`` labelled with a run's recorded model id when both name the same local directory.

    The engine refuses to resume or rescore a run with a model whose id differs from the one in its
    manifest; ``data/demo_model`` and its absolute path are the same model, so relabel rather than refuse.
    """
    import dataclasses

    mine = Path(loaded.spec.model_id).expanduser()
    try:
        theirs = open_run.resolve_path(run_model_id)
    except InputError:
        return loaded
    if loaded.spec.model_id != run_model_id and mine.exists() and theirs.exists() and mine.resolve() == theirs.resolve():
        return dataclasses.replace(loaded, spec=dataclasses.replace(loaded.spec, model_id=run_model_id))
    return loaded
