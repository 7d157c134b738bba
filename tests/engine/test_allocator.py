"""Freed tensor memory stays mapped once a model is loaded: no page faults on reuse, same results."""

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")

_PROBE = textwrap.dedent("""
    import json, os, resource, sys
    import torch
    from monitor.engine.allocator import keep_freed_memory

    def faults():
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(20):
            # As a forward pass does: several activations alive at once, then all freed. glibc
            # gives the heap's free top back to the OS once it passes twice the largest block.
            xs = [torch.ones(k * 262_144) for k in range(1, 9)]  # 1 MB to 8 MB, 36 MB in all
            del xs
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0

    faults()
    before = faults()
    kept = keep_freed_memory()
    faults()
    print(json.dumps({"kept": kept, "before": before, "after": faults(), "again": keep_freed_memory()}))
""")


def _probe(env_extra: dict) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "MONITOR_KEEP_FREED_MEMORY"}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**env, **env_extra}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_memory_is_reused_without_page_faults():
    r = _probe({})
    assert r["kept"] and r["again"]
    # Kept memory touches no fresh page again. glibc's default adapts its thresholds to what was
    # freed before, so whether it faults on this pattern depends on the process's history: it
    # took ~107k faults here in most runs and none in some; the scoring pass's figures are in
    # docs/engine.md.
    assert r["after"] < 200, r


@pytest.mark.parametrize("env", [{"MONITOR_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}])
def test_an_opt_out_or_the_users_own_malloc_settings_win(env):
    r = _probe(env)
    assert not r["kept"] and not r["again"]
    # glibc's own (adaptive) behaviour, untouched: sometimes it keeps this pattern's memory itself,
    # but never better than before.
    assert r["after"] >= r["before"] // 2, r


def test_load_model_keeps_freed_memory(tiny_model_dir, monkeypatch):
    from monitor.engine import models

    calls = []
    monkeypatch.setattr(models, "keep_freed_memory", lambda: calls.append(1) or True)
    models.load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    assert calls == [1]
