"""Run units on a Ray cluster: one worker actor per GPU (or N CPU workers), each holding the model.

The driver plans the units, hands them to idle workers, and writes every result itself (the run
store has one writer). A unit whose worker dies (the process is killed, the node is lost) goes
back into the queue and runs on another worker, or on the same one once Ray has restarted it, so
nothing is lost; since a unit is stored only when its result reaches the driver, nothing is stored
twice. Rollouts depend only on (seed, prompt id, rollout index), so the run equals a
single-process run with the same seed, however the units were spread.

``pip install -e ".[ray]"``. A local cluster starts on ``address=None``; ``ray start --head`` on
one machine and ``ray start --address HEAD:6379`` on the others make a multi-node one (the model
id or path must resolve on every node, and this package must be installed there).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import RunConfig
from ..engine.models import ModelSpec
from ..errors import ConfigError, MonitorError
from .pipeline import Unit

__all__ = ["RayExecutor", "ray_available"]

log = logging.getLogger(__name__)

INSTALL = 'pip install -e ".[ray]"  (or: pip install "ray>=2.9")'


def ray_available() -> bool:
    """Whether Ray can be imported here (the app shows its switch only then)."""
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray needs Ray, which is not installed. Install it with: {INSTALL}") from None
    return ray


class _Worker:
    """A Ray actor: loads the model once, then runs units on it."""

    def __init__(self, spec: ModelSpec, threads: int | None):
        import torch

        from ..engine.models import load_model

        if threads:
            torch.set_num_threads(threads)
        self.loaded = load_model(spec)

    def pid(self) -> int:
        return os.getpid()

    def run_unit(self, requests, config: RunConfig) -> dict[str, pd.DataFrame]:
        from .pipeline import run_unit

        return run_unit(self.loaded, requests, config)


class RayExecutor:
    """Schedules units over Ray worker actors; see the module docstring."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        address: str | None = None,
        workers: int | None = None,
        threads_per_worker: int | None = 1,
        max_worker_restarts: int = 3,
        init_kwargs: dict[str, Any] | None = None,
    ):
        """``address``: a running cluster (``auto``, ``HOST:PORT``, ``ray://...``) or None to start a
        local one. ``workers``: CPU workers to start; default one per GPU in the cluster (at least one)."""
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {workers}).")
        self.spec = spec
        self.address = address
        self.workers = workers
        self.threads = threads_per_worker
        self.max_restarts = max_worker_restarts
        self.init_kwargs = init_kwargs or {}
        self._actors: list[Any] = []

    def _start(self):
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            if self.address:
                kwargs["address"] = self.address
            else:
                # Workers of a local cluster import this package from the same place as the driver.
                root = str(Path(__file__).resolve().parents[2])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
                kwargs.setdefault("runtime_env", {"env_vars": {"PYTHONPATH": path}})
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ConfigError(f"Could not start or join the Ray cluster at {self.address or 'a new local cluster'}: {e}") from None
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = self.workers is None and gpus > 0
        n = gpus if use_gpu else (self.workers or 1)
        opts: dict[str, Any] = {"max_restarts": self.max_restarts, "max_task_retries": 0}
        opts.update({"num_gpus": 1} if use_gpu else {"num_cpus": 1})
        cls = ray.remote(**opts)(_Worker)
        # Ray gives each GPU actor its own CUDA_VISIBLE_DEVICES, so device "auto" lands on its GPU
        # (whatever device the driver loaded its own copy on).
        spec = replace(self.spec, device="auto") if use_gpu and not self.spec.device_map else self.spec
        self._actors = [cls.remote(spec, None if use_gpu else self.threads) for _ in range(n)]
        log.info("Ray: %d %s worker(s)", n, "GPU" if use_gpu else "CPU")
        return ray

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker actors (for tests and monitoring)."""
        ray = _import_ray()
        return ray.get([a.pid.remote() for a in self._actors])

    def run(
        self, units: Sequence[Unit], config: RunConfig, *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[Unit, dict[str, pd.DataFrame]]]:
        ray = self._start()
        from ray.exceptions import ActorUnavailableError, RayActorError

        queue = list(units)
        idle = list(self._actors)
        running: dict[Any, tuple[Any, Unit]] = {}
        attempts: dict[str, int] = {}
        try:
            while queue or running:
                stopping = should_stop is not None and should_stop()
                while queue and idle and not stopping:
                    actor, unit = idle.pop(0), queue.pop(0)
                    running[actor.run_unit.remote(unit.requests, config)] = (actor, unit)
                if not running:
                    return
                done, _ = ray.wait(list(running), num_returns=1)
                ref = done[0]
                actor, unit = running.pop(ref)
                try:
                    tables = ray.get(ref)
                except (RayActorError, ActorUnavailableError) as e:
                    attempts[unit.name] = attempts.get(unit.name, 0) + 1
                    if attempts[unit.name] > self.max_restarts + len(self._actors):
                        raise MonitorError(f"Unit {unit.name} failed on {attempts[unit.name]} workers; last error: {e}") from None
                    log.warning("Worker died running unit %s (%s); re-queued.", unit.name, type(e).__name__)
                    queue.insert(0, unit)
                    if _alive(ray, actor):
                        idle.append(actor)
                    else:
                        self._actors = [a for a in self._actors if a is not actor]
                        if not self._actors:
                            raise MonitorError("Every Ray worker died; resume the run with --resume once the cluster is healthy.") from None
                    continue
                idle.append(actor)
                yield unit, tables
        finally:
            # Left early (an error while storing, or the caller stopped reading): drop the rest.
            for ref in running:
                try:
                    ray.cancel(ref)
                except Exception as e:  # cancelling is best effort; never mask the original error
                    log.debug("Could not cancel %s: %s", ref, e)

    def shutdown(self) -> None:
        """Stop the workers (and the local cluster, if this executor started one)."""
        ray = _import_ray()
        for a in self._actors:
            ray.kill(a)
        self._actors = []
        if ray.is_initialized() and not self.address:
            ray.shutdown()


def _alive(ray, actor) -> bool:
    """True once a (possibly restarting) actor answers again; False if it is gone for good."""
    from ray.exceptions import RayActorError

    try:
        ray.get(actor.pid.remote(), timeout=300)
        return True
    except (RayActorError, TimeoutError, ray.exceptions.GetTimeoutError):
        return False

