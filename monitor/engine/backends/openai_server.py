"""A running OpenAI-compatible server (``vllm serve``; SGLang where its API allows), over HTTP
(``--backend openai-server --base-url URL [--api-key-env VAR]``).

Every request sends **token ids** (``/v1/completions`` takes ``prompt`` as a list of ids), so the
server computes exactly the ids the monitor's tokenization rule chose; nothing is re-tokenized.
Sampling uses one seeded request per rollout and ``return_token_ids``; scoring uses vLLM's
``prompt_logprobs`` extra parameter. Before any work the served tokenizer is compared with the
local one (``/tokenize`` and ``/detokenize``), so a server with another model loaded is refused.

Transient failures (connection refused, timeouts, 429 and 5xx) are retried with exponential
backoff by the ``openai`` client; what still fails becomes one :class:`ServerError` line. The API
key is read from the environment variable named by ``--api-key-env`` and never written anywhere.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ...errors import ConfigError, MonitorError

__all__ = ["ServerEngine", "ServerError"]

log = logging.getLogger(__name__)

# Prompts per scoring request, and requests in flight (a unit of --batch-size rollouts is at most
# that many sampling requests): the server batches what arrives together.
_PER_REQUEST = 32
_IN_FLIGHT = 64
# Text whose tokenization tells two vocabularies apart (scripts, digits, whitespace runs, markup).
_PROBE = "The user might be testing me. Let me think... 12345 \u00e9t\u00e9 \u4f60\u597d  \t\n\n<think>\n</think> \U0001f600 x=1;"


class ServerError(MonitorError):
    """The server cannot be reached, answers with an error or with something that is not a reply."""


class ServerEngine:
    """Client for one model on an OpenAI-compatible server."""

    name = "openai-server"

    def __init__(self, base_url: str, *, api_key_env: str | None = None, served_model: str | None = None,
                 timeout_s: float = 600.0, max_retries: int = 4):
        import openai

        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url {base_url!r}: give the server's address, e.g. http://127.0.0.1:8000/v1.")
        if not url.endswith("/v1"):
            url += "/v1"
        key = "EMPTY"
        if api_key_env:
            key = os.environ.get(api_key_env, "")
            if not key:
                raise ConfigError(f"--api-key-env {api_key_env}: that environment variable is not set or empty; export the key in it.")
        self.base_url = url
        self._client = openai.OpenAI(base_url=url, api_key=key, timeout=timeout_s, max_retries=max_retries)
        self._root = openai.OpenAI(base_url=url[: -len("/v1")], api_key=key, timeout=timeout_s, max_retries=max_retries)
        models = self._json(self._client, "get", "/models")
        data = models.get("data") if isinstance(models, dict) else None
        if not isinstance(data, list) or not data or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in data):
            raise ServerError(f"{url}/models did not list any model (got {_short(models)}); is this an OpenAI-compatible server?")
        ids = [m["id"] for m in data]
        if served_model is None:
            if len(ids) > 1:
                raise ConfigError(f"{url} serves {len(ids)} models ({', '.join(ids[:5])}); choose one with --served-model.")
            served_model = ids[0]
        elif served_model not in ids:
            raise ConfigError(f"{url} does not serve {served_model!r} (it serves {', '.join(ids[:5])}); fix --served-model.")
        self.model = served_model
        entry = next(m for m in data if m["id"] == served_model)
        n = entry.get("max_model_len")
        self.max_model_len = int(n) if isinstance(n, int) and n > 0 else None

    # -- transport ---------------------------------------------------------------------------

    def _json(self, client: Any, method: str, path: str, body: dict | None = None) -> Any:
        import httpx
        import openai

        try:
            if method == "get":
                resp = client.get(path, cast_to=httpx.Response)
            else:
                resp = client.post(path, body=body, cast_to=httpx.Response)
        except openai.APIConnectionError as e:
            raise ServerError(f"cannot reach the server at {self.base_url} ({type(e).__name__}: {_first_line(e)}); "
                              "start it (vllm serve ...) or fix --base-url.") from None
        except openai.APIStatusError as e:
            raise ServerError(f"{client.base_url}{path.lstrip('/')} answered HTTP {e.status_code}: {_short(_body_of(e))}.") from None
        try:
            return resp.json()
        except (json.JSONDecodeError, ValueError):
            raise ServerError(f"{client.base_url}{path.lstrip('/')} answered with something that is not JSON "
                              f"({_short(resp.text)}); is --base-url an OpenAI-compatible server?") from None

    # -- the engine interface ------------------------------------------------------------------

    def vocabulary_check(self, tokenizer: Any) -> None:
        """Refuse a server whose tokenizer is not ``tokenizer`` (another model, or another vocabulary)."""
        local = [int(i) for i in tokenizer(_PROBE, add_special_tokens=False)["input_ids"]]
        got = self._json(self._root, "post", "/tokenize", {"model": self.model, "prompt": _PROBE, "add_special_tokens": False})
        served = got.get("tokens") if isinstance(got, dict) else None
        if not isinstance(served, list):
            raise ServerError(f"{self._root.base_url}tokenize did not return tokens (got {_short(got)}); the monitor compares "
                              "the served tokenizer with the local one before any work and needs vLLM's /tokenize.")
        size = len(tokenizer)
        spread = sorted({0, size - 1, *range(0, size, max(1, size // 61))})
        text = self._json(self._root, "post", "/detokenize", {"model": self.model, "tokens": spread})
        served_text = text.get("prompt") if isinstance(text, dict) else None
        local_text = tokenizer.decode(spread, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if served != local or served_text != local_text:
            raise ConfigError(
                f"the server at {self.base_url} serves {self.model!r}, whose tokenizer differs from the local one "
                f"({'tokenize' if served != local else 'detokenize'} disagrees): it has another model loaded. Start it with "
                "the model whose tokenizer --model names, or point --model at the served model's tokenizer."
            )

    def _completions(self, body: dict, n_prompts: int) -> list[dict]:
        got = self._json(self._client, "post", "/completions", body)
        choices = got.get("choices") if isinstance(got, dict) else None
        if not isinstance(choices, list) or len(choices) != n_prompts or not all(isinstance(c, dict) for c in choices):
            raise ServerError(f"{self.base_url}/completions returned {_short(got)} instead of {n_prompts} choices.")
        try:
            choices = sorted(choices, key=lambda c: int(c["index"]))
        except (KeyError, TypeError, ValueError):
            raise ServerError(f"{self.base_url}/completions returned choices without an index ({_short(choices[0])}).") from None
        return choices

    def _fan_out(self, fn: Any, batches: list[Any]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=_IN_FLIGHT) as pool:
            return list(pool.map(fn, batches))

    def sample(self, prompts: Sequence[Sequence[int]], seeds: Sequence[int], *, max_new_tokens: int, temperature: float,
               top_p: float, top_k: int, stop_ids: Sequence[int]) -> list[list[int]]:
        # One request per rollout: the seed is per request, and vLLM applies it to every prompt of a request.
        def one(k: int) -> list[int]:
            body = {"model": self.model, "prompt": list(prompts[k]), "max_tokens": max_new_tokens, "temperature": temperature,
                    "top_p": top_p, "top_k": top_k if top_k > 0 else 0, "min_p": 0.0, "repetition_penalty": 1.0,
                    "seed": int(seeds[k]), "ignore_eos": True, "stop_token_ids": list(stop_ids), "return_token_ids": True,
                    "skip_special_tokens": False}
            c = self._completions(body, 1)[0]
            ids = c.get("token_ids")
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise ServerError(f"{self.base_url}/completions returned no token_ids ({_short(c)}); the server must "
                                  "support return_token_ids (vLLM 0.10.2 or newer).")
            return ids

        return self._fan_out(one, list(range(len(prompts))))

    def prompt_logprobs(self, prompts: Sequence[Sequence[int]], starts: Sequence[int]) -> list[np.ndarray]:
        def batch(lo: int) -> list[np.ndarray]:
            idx = range(lo, min(lo + _PER_REQUEST, len(prompts)))
            body = {"model": self.model, "prompt": [list(prompts[i]) for i in idx], "max_tokens": 1, "temperature": 0.0,
                    "prompt_logprobs": 0}
            return [_forced(self.base_url, c, prompts[i], starts[i]) for i, c in zip(idx, self._completions(body, len(idx)))]

        return [lp for part in self._fan_out(batch, list(range(0, len(prompts), _PER_REQUEST))) for lp in part]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "server_url": self.base_url, "served_model": self.model, "max_model_len": self.max_model_len,
                "vllm_version": self._server_version()}

    def _server_version(self) -> str | None:
        try:
            got = self._json(self._root, "get", "/version")
        except MonitorError:
            return None
        v = got.get("version") if isinstance(got, dict) else None
        return v if isinstance(v, str) else None

    def close(self) -> None:
        self._client.close()
        self._root.close()


def _forced(url: str, choice: dict, prompt: Sequence[int], start: int) -> np.ndarray:
    plp = choice.get("prompt_logprobs")
    if not isinstance(plp, list) or len(plp) != len(prompt):
        raise ServerError(f"{url}/completions returned {'no' if not isinstance(plp, list) else len(plp)} prompt_logprobs "
                          f"for a {len(prompt)}-token prompt; the server must be vLLM (prompt_logprobs is its extra parameter).")
    out = np.empty(len(prompt) - start)
    for t in range(start, len(prompt)):
        entry = plp[t]
        lp = entry.get(str(prompt[t])) if isinstance(entry, dict) else None
        value = lp.get("logprob") if isinstance(lp, dict) else None
        if not isinstance(value, (int, float)) or value > 0:
            raise ServerError(f"{url}/completions: prompt_logprobs at position {t} has no log-prob for token {prompt[t]} "
                              f"({_short(entry)}).")
        out[t - start] = value
    return out


def _first_line(e: Exception) -> str:
    s = str(e)
    return s.splitlines()[0] if s else type(e).__name__


def _body_of(e: Any) -> Any:
    try:
        return e.response.json()
    except Exception:
        return getattr(getattr(e, "response", None), "text", "")


def _short(x: Any, n: int = 160) -> str:
    s = x if isinstance(x, str) else json.dumps(x, default=str)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."
