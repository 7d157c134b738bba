"""The ``openai`` judge: any OpenAI-compatible chat-completions endpoint as verbalization judge.

Works with hosted APIs and local servers (vLLM, Ollama, llama.cpp) through the official ``openai``
client. One request per rollout (or per chunk of ``max_sentences`` sentences): the rubric of
:mod:`monitor.judges.rubric` as the system message, the numbered sentences as the user message,
JSON out.

Reliability: transient failures (429, 408/409, 5xx, timeouts, dropped connections) and malformed
answers are retried with exponential backoff and jitter (honouring ``Retry-After``); a rollout that
still fails becomes a :class:`JudgeFailure`, which ``judge_run`` records and retries on its next
pass. Credentials or model errors (401/403/404) stop the pass with a :class:`JudgeError`, since
every request would fail the same way. Answers that parsed are cached on disk
(:class:`~monitor.judges.cache.AnswerCache`), so nothing is paid for twice.

The API key comes from ``api_key`` or the environment variable ``api_key_env``; it is held in
memory only, never part of settings, cache keys, files or log messages (error texts are scrubbed).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Judge, JudgeError, JudgeFailure, JudgeResult, unflagged
from .cache import AnswerCache, CachedAnswer, cache_key
from .rubric import RUBRIC, MalformedAnswer, format_sentences, parse_answer, rubric_id, verbatim_quote

__all__ = ["OpenAIJudgeConfig", "Usage", "OpenAIJudge", "NO_KEY"]

log = logging.getLogger(__name__)

NO_KEY = "no-key"
"""Sent when no key is configured: local servers (vLLM, Ollama) ignore it; hosted APIs answer 401."""


@dataclass(frozen=True)
class OpenAIJudgeConfig:
    """Settings of the ``openai`` judge (the key is not one of them)."""

    model: str
    """Model name as the endpoint knows it (``gpt-4.1-mini``, ``Qwen/Qwen3-32B``, ``llama3.1``)."""
    base_url: str | None = None
    """Endpoint base URL ending in ``/v1`` (e.g. ``http://localhost:8000/v1``); None = OpenAI's."""
    temperature: float | None = 0.0
    """Sampling temperature sent with each request; None sends none (for models that reject it)."""
    max_tokens: int | None = None
    """Answer length limit sent as ``max_tokens``; None sends none (the server's default)."""
    json_mode: bool = True
    """Ask for ``response_format={"type": "json_object"}``; turn off for servers that reject it."""
    max_sentences: int = 150
    """Sentences per request; a longer CoT is judged in several requests."""
    concurrency: int = 4
    """Requests in flight at once."""
    max_retries: int = 4
    """Retries per request after a transient error or a malformed answer (then recorded as failed)."""
    timeout: float = 60.0
    """Seconds before a request counts as timed out (and is retried)."""
    backoff: float = 1.0
    """First retry delay in seconds; doubles each retry (with jitter), capped at ``max_backoff``."""
    max_backoff: float = 30.0
    """Longest wait between retries, in seconds (also caps ``Retry-After``)."""
    price_in: float | None = None
    """USD per 1M input tokens, for the cost estimate (None: report tokens only)."""
    price_out: float | None = None
    """USD per 1M output tokens, for the cost estimate."""

    def __post_init__(self) -> None:
        if not str(self.model).strip():
            raise ConfigError("openai judge: --model is empty; give the model name the endpoint serves.")
        for name in ("max_sentences", "concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"openai judge: {name} must be at least 1 (got {getattr(self, name)}).")
        if self.max_retries < 0 or self.timeout <= 0 or self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError("openai judge: max_retries >= 0, timeout > 0 and backoff >= 0 are required.")
        for name in ("price_in", "price_out"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"openai judge: {name} is negative ({v}); give USD per 1M tokens.")

    def answer_settings(self) -> dict[str, Any]:
        """The settings that change an answer: the cache key's part besides the request text."""
        return {
            "judge": "openai", "model": self.model, "base_url": (self.base_url or "").rstrip("/"),
            "temperature": self.temperature, "max_tokens": self.max_tokens, "json_mode": self.json_mode,
            "rubric": rubric_id(),
        }


@dataclass
class Usage:
    """Requests and tokens of one judge object (thread-safe counters)."""

    requests: int = 0
    """HTTP requests made (retries included)."""
    cache_hits: int = 0
    """Requests answered from the cache (free)."""
    retries: int = 0
    """Requests repeated after a transient error or a malformed answer."""
    malformed: int = 0
    """Answers that did not parse."""
    failures: int = 0
    """Rollouts given up on after all retries."""
    prompt_tokens: int = 0
    """Input tokens paid for (cache hits excluded)."""
    completion_tokens: int = 0
    """Output tokens paid for (cache hits excluded)."""

    def cost(self, price_in: float | None, price_out: float | None) -> float | None:
        """Estimated USD paid, or None without prices."""
        if price_in is None and price_out is None:
            return None
        return (self.prompt_tokens * (price_in or 0.0) + self.completion_tokens * (price_out or 0.0)) / 1e6


def fan_out(fn: Callable[..., Any], items: Sequence[tuple[Any, ...]], *, concurrency: int, redact: Callable[[str], str],
            name: str) -> Iterator[tuple[int, Any]]:
    """``fn(*item)`` for every item with up to ``concurrency`` calls in flight; yields ``(index, result)``
    as each finishes. A :class:`JudgeError` (bad credentials, ...) ends the pass; any other exception
    becomes that item's :class:`JudgeFailure` (redacted) so one rollout's bug does not lose the others."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name)
    pending = {pool.submit(fn, *item): i for i, item in enumerate(items)}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    yield i, fut.result()
                except JudgeError:
                    raise
                except Exception as e:
                    yield i, JudgeFailure(error=redact(f"{type(e).__name__}: {e}"))
    finally:
        for fut in pending:
            fut.cancel()
        # Do not wait for requests still in flight after an error or Ctrl-C (they may be retrying).
        pool.shutdown(wait=False, cancel_futures=True)


class OpenAIJudge(Judge):
    """Verbalization judge over an OpenAI-compatible chat-completions endpoint."""

    name = "openai"

    def __init__(self, config: OpenAIJudgeConfig, *, api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 cache: str | Path | AnswerCache | None = None, sleep=time.sleep):
        self.config = config
        self.api_key_env = api_key_env
        self._key = api_key or os.environ.get(api_key_env) or None
        self.cache = cache if isinstance(cache, AnswerCache) or cache is None else AnswerCache(cache)
        self.usage = Usage()
        self._lock = threading.Lock()
        self._sleep = sleep
        self._client = None

    def __repr__(self) -> str:  # never the key
        return f"OpenAIJudge(model={self.config.model!r}, base_url={self.config.base_url!r})"

    def settings(self) -> dict[str, Any]:
        s = asdict(self.config)
        s["rubric"] = rubric_id()
        s["api_key_env"] = self.api_key_env  # the variable's name, never its value
        s["cache"] = str(self.cache.path) if self.cache else None
        return s

    def verdict_settings(self) -> dict[str, Any]:
        return {**self.config.answer_settings(), "max_sentences": self.config.max_sentences}

    # -- request machinery -------------------------------------------------------------------
    def _client_(self):
        if self._client is None:
            try:
                import openai
            except ImportError:  # pragma: no cover - a declared dependency
                raise JudgeError("the openai judge needs the openai package: pip install openai") from None
            self._client = openai.OpenAI(
                api_key=self._key or NO_KEY, base_url=self.config.base_url, timeout=self.config.timeout,
                max_retries=0,  # retries are ours: counted, logged without secrets, malformed answers too
            )
        return self._client

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and len(self._key) >= 4 else text

    def _count(self, **fields: int) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self.usage, k, getattr(self.usage, k) + v)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        cfg = self.config
        if retry_after:
            try:
                return min(cfg.max_backoff, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return min(cfg.max_backoff, cfg.backoff * 2 ** attempt) * (0.5 + 0.5 * random.random())

    def _ask(self, sentences: Sequence[str], first: int) -> dict[int, tuple[str, str]] | JudgeFailure:
        """One request (with retries) for sentences numbered from ``first``."""
        return self.request(RUBRIC, format_sentences(sentences, first=first), self.config.answer_settings(),
                            lambda content: parse_answer(content, len(sentences), first=first))

    def request(self, system: str, text: str, answer_settings: dict[str, Any], parse: Callable[[str | None], Any]) -> Any:
        """One chat request (system + user message) with cache, retries and usage counting.

        ``parse`` turns the answer text into the result or raises :class:`MalformedAnswer` (counted
        and retried); ``answer_settings`` is the cache key's part besides ``text``. Shared with the
        behaviour judge (:mod:`monitor.judges.behaviour_llm`). Returns the parsed answer or a
        :class:`JudgeFailure`; raises :class:`JudgeError` on 401/403/404.
        """
        import openai

        cfg = self.config
        key = cache_key(answer_settings, text)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    parsed = parse(hit.content)
                    self._count(cache_hits=1)
                    return parsed
                except MalformedAnswer:
                    pass  # stored by an older parser that accepted it: ask again
        kwargs: dict[str, Any] = {"model": cfg.model, "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": text}]}
        if cfg.temperature is not None:
            kwargs["temperature"] = cfg.temperature
        if cfg.max_tokens is not None:
            kwargs["max_tokens"] = cfg.max_tokens
        if cfg.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        last = "no request made"
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                self._count(retries=1)
            self._count(requests=1)
            retry_after = None
            try:
                resp = self._client_().chat.completions.create(**kwargs)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise JudgeError(
                    f"openai judge: the endpoint refused the credentials ({e.status_code}). Set the key in "
                    f"${self.api_key_env} (or choose another variable with --api-key-env)."
                ) from None
            except openai.NotFoundError:
                raise JudgeError(
                    f"openai judge: model {cfg.model!r} or endpoint {cfg.base_url or 'api.openai.com'} not found (404). "
                    "Check --model and --base-url (it usually ends in /v1)."
                ) from None
            except (openai.APITimeoutError, openai.APIConnectionError) as e:
                last = f"{type(e).__name__}: {self.redact(str(e))}"
            except openai.APIStatusError as e:
                last = f"HTTP {e.status_code}: {self.redact(str(e))[:300]}"
                if not (e.status_code in (408, 409, 429) or e.status_code >= 500):
                    break  # a request the server will never accept (e.g. 400 context too long)
                retry_after = e.response.headers.get("retry-after") if e.response is not None else None
            else:
                content = resp.choices[0].message.content if resp.choices else None
                try:
                    parsed = parse(content)
                except MalformedAnswer as e:
                    self._count(malformed=1)
                    last = f"malformed answer: {self.redact(str(e))}"
                else:
                    u = getattr(resp, "usage", None)
                    pt, ct = int(getattr(u, "prompt_tokens", 0) or 0), int(getattr(u, "completion_tokens", 0) or 0)
                    self._count(prompt_tokens=pt, completion_tokens=ct)
                    if self.cache is not None:
                        # An endpoint may echo the request's key back in its answer: never store it.
                        self.cache.put(key, CachedAnswer(self.redact(content or ""), pt, ct))
                    return parsed
            log.info("openai judge: attempt %d failed: %s", attempt + 1, last)
            if attempt < cfg.max_retries:
                self._sleep(self._delay(attempt, retry_after))
        return JudgeFailure(error=last, attempts=attempt + 1)

    # -- Judge interface ---------------------------------------------------------------------
    def judge_or_fail(self, sentences: Sequence[str]) -> list[JudgeResult] | JudgeFailure:
        """Judge one rollout; a :class:`JudgeFailure` when a request failed after its retries."""
        flags: dict[int, tuple[str, str]] = {}
        step = self.config.max_sentences
        for lo in range(0, len(sentences), step):
            got = self._ask(sentences[lo:lo + step], first=lo + 1)
            if isinstance(got, JudgeFailure):
                self._count(failures=1)
                return got
            flags.update(got)
        results = []
        for i, text in enumerate(sentences, 1):
            if i not in flags or not str(text).strip():
                results.append(unflagged(i))
                continue
            quote, why = flags[i]
            quote, found = verbatim_quote(text, quote)
            if quote and not found:
                why = f"{why} (quote not verbatim in the sentence)".strip()
            results.append(JudgeResult(sentence=i, flag=True, quote=quote or text.strip(), rationale=why))
        return results

    def judge(self, sentences: Sequence[str]) -> list[JudgeResult]:
        out = self.judge_or_fail(sentences)
        if isinstance(out, JudgeFailure):
            raise RuntimeError(out.error)
        return out

    def judge_many(self, rollouts: Sequence[Sequence[str]]) -> Iterator[tuple[int, list[JudgeResult] | JudgeFailure]]:
        """Judge rollouts with up to ``concurrency`` requests in flight; yield each as it finishes."""
        return fan_out(self.judge_or_fail, [(r,) for r in rollouts], concurrency=self.config.concurrency,
                       redact=self.redact, name="judge")

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["usage"] = {**asdict(self.usage), "cost_usd": self.usage.cost(self.config.price_in, self.config.price_out)}
        return d
