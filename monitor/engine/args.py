"""Command-line options for the model, its backend and its chat format, shared by every subcommand
that loads a model (``run``, ``score-prompts``, ``ingest``, ...), and the progress bar they draw.

``add_model_arguments(parser)`` and ``add_chat_arguments(parser)`` add the options;
``load_model_from_args(args)`` and ``markers_from_args(args)`` read them. As
:mod:`monitor.prompts.args` is for ``--prompts``: the subcommands live above (``monitor.cli``,
``monitor.ingest.cli``), their shared options here, below both.
"""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from ..errors import MonitorError
from .chat import ThinkMarkers

if TYPE_CHECKING:
    from .backends import ServedModel
    from .models import LoadedModel

__all__ = [
    "add_model_arguments", "add_backend_arguments", "add_chat_arguments", "markers_from_args", "load_model_from_args",
    "resume_backend", "ProgressBar",
]


def add_model_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add the ``model`` option group (which model, and how to load it)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", required=required, help="Hugging Face id or local directory (e.g. data/demo_model)")
    g.add_argument("--revision", default=None, help="hub revision (branch, tag or commit)")
    g.add_argument("--dtype", default="auto", help="auto | bf16 | fp16 | fp32 (auto: bf16 on a capable GPU, else fp32)")
    g.add_argument("--device", default="auto", help="auto | cuda | cuda:N | mps | cpu")
    g.add_argument("--device-map", default=None, help="transformers device_map (e.g. auto, to shard over several GPUs)")
    g.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation")
    g.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code (off by default)")
    g.add_argument("--chat-template", metavar="FILE", default=None, help="Jinja chat template file, for a model without one (e.g. a base model)")
    g.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads (on a busy shared CPU, 1 can be several times faster)")


def add_backend_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``backend`` option group (where sampling and scoring run: here, vLLM, or a server)."""
    g = p.add_argument_group("backend (where sampling and scoring run)")
    g.add_argument("--backend", choices=["transformers", "vllm", "openai-server"], default=None,
                   help="transformers: the model in this process (default); vllm: vLLM's offline engine in this process "
                        "(the [vllm] extra); openai-server: a running `vllm serve` at --base-url (only the tokenizer loads here)")
    g.add_argument("--base-url", default=None, help="with --backend openai-server: the server, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--api-key-env", default=None, metavar="VAR", help="with --backend openai-server: environment variable holding the API key (never written)")
    g.add_argument("--served-model", default=None, help="with --backend openai-server: the served model name (default: the only one it serves)")
    g.add_argument("--tensor-parallel-size", type=int, default=1, help="with --backend vllm: GPUs per model replica (tensor parallel)")
    g.add_argument("--pipeline-parallel-size", type=int, default=1, help="with --backend vllm: pipeline stages (GPUs or nodes, over Ray)")
    g.add_argument("--max-model-len", type=int, default=None, help="with --backend vllm: context window to allocate (default: the model's)")


def add_chat_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``chat format`` option group (think markers, thinking mode, special-token text)."""
    g = p.add_argument_group("chat format")
    g.add_argument("--think-open", default=None, help="marker that opens the CoT (default: detected; <think> if the model knows it)")
    g.add_argument("--think-close", default=None, help="marker that closes the CoT (default: detected; </think>)")
    g.add_argument("--no-think-markers", action="store_true", help="the model has no think markers: the whole reply is the CoT (detected by default)")
    g.add_argument("--no-thinking", action="store_true", help="pass enable_thinking=False to the chat template")
    g.add_argument("--special-tokens", choices=["text", "parse"], default="text",
                   help="special-token strings inside prompt text (e.g. <|im_end|>): plain text (default) or real chat markup")


def markers_from_args(args: argparse.Namespace) -> ThinkMarkers | None:
    """The think markers the options name, or ``None``: detect them once the model is loaded."""
    if args.no_think_markers:
        return ThinkMarkers(None, None)
    if args.think_open is None and args.think_close is None:
        return None  # detected from the model's chat template and vocabulary once it is loaded
    return ThinkMarkers(args.think_open or "<think>", args.think_close or "</think>")


def load_model_from_args(args: argparse.Namespace) -> LoadedModel | ServedModel:
    """Load the model the options name (reading ``--chat-template``, setting ``--threads`` first)."""
    from .models import ModelSpec, load_model

    template = None
    if getattr(args, "chat_template", None):
        from pathlib import Path

        path = Path(args.chat_template).expanduser()
        try:
            template = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MonitorError(f"--chat-template {args.chat_template}: cannot read it ({e.__class__.__name__}); give a UTF-8 Jinja template file.") from None
        if not template.strip():
            raise MonitorError(f"--chat-template {args.chat_template} is empty; give a Jinja chat template.")
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise MonitorError(f"--threads must be at least 1 (got {threads}).")
        import torch

        torch.set_num_threads(threads)
    spec = ModelSpec(
        args.model, revision=args.revision, dtype=args.dtype, device=args.device, device_map=args.device_map,
        attn_implementation=args.attn, trust_remote_code=args.trust_remote_code, chat_template=template,
    )
    backend = getattr(args, "backend", None) or "transformers"
    if backend == "transformers":
        for flag in ("base_url", "api_key_env", "served_model"):
            if getattr(args, flag, None) is not None:
                raise MonitorError(f"--{flag.replace('_', '-')} is for --backend openai-server; add --backend openai-server.")
        print(f"Loading {args.model} ...", file=sys.stderr)
        return load_model(spec)
    from .backends import open_backend

    where = f" at {args.base_url}" if backend == "openai-server" else ""
    print(f"Opening {args.model} on {backend}{where} ...", file=sys.stderr)
    return open_backend(backend, spec, base_url=args.base_url, api_key_env=args.api_key_env, served_model=args.served_model,
                        tensor_parallel_size=args.tensor_parallel_size, pipeline_parallel_size=args.pipeline_parallel_size,
                        max_model_len=args.max_model_len, seed=getattr(args, "seed", 0) or 0)


def resume_backend(args: argparse.Namespace, manifest: dict) -> None:
    """On resume, the stored backend (and server URL) unless the command names them."""
    stored = manifest.get("model", {}).get("backend", {})
    if getattr(args, "backend", None) is None:
        args.backend = stored.get("name", "transformers")
    if args.backend == "openai-server" and getattr(args, "base_url", None) is None:
        args.base_url = stored.get("server_url")


class ProgressBar:
    """tqdm progress bar driven by the engine's progress callback (rollouts done, rate, time left)."""

    def __init__(self, unit: str):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar = None
        self.unit = unit

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.bar is None:
            self.bar = self._tqdm(total=total, initial=done, unit=self.unit, dynamic_ncols=True, file=sys.stderr)
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(message, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
