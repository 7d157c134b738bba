"""Model loading: local directories, clear errors, settings validation."""

import pytest
import torch

from monitor.errors import ConfigError, ModelLoadError
from monitor.engine.models import ModelSpec, load_model, resolve_device


def test_load_local_directory(tiny_model_dir):
    lm = load_model(str(tiny_model_dir), device="cpu", dtype="fp32", attn_implementation="eager")
    assert lm.device == torch.device("cpu") and lm.dtype == torch.float32
    assert lm.model.config._attn_implementation == "eager"
    assert not lm.model.training
    d = lm.describe()
    assert d["id"] == str(tiny_model_dir) and d["dtype"] == "float32" and d["trust_remote_code"] is False


def test_bf16_load(tiny_model_dir):
    assert load_model(str(tiny_model_dir), device="cpu", dtype="bf16").dtype == torch.bfloat16


def test_missing_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope"))


def test_path_under_a_local_folder_fails_at_once(tmp_path, monkeypatch):
    # "data/typo" is not an org/name on the hub when "data/" is a local folder: no network, one message
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="'data/typo_model' does not exist"):
        load_model("data/typo_model")


def test_unknown_hub_id_offline(monkeypatch):
    import huggingface_hub.constants

    # The constant is read at import time; patching it avoids a minute of network retries here.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="Cannot load model"):
        load_model("no-such-org/no-such-model-xyz")


def test_directory_without_weights(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError):
        load_model(str(tmp_path))


@pytest.mark.parametrize("kw", [{"dtype": "int8"}, {"attn_implementation": "flash_attention_2"}])
def test_bad_settings(kw):
    with pytest.raises(ConfigError):
        ModelSpec("x", **kw)
    with pytest.raises(ConfigError):
        ModelSpec("  ")


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError):
            resolve_device("cuda")


def test_gguf_paths_are_found_and_errors_explained(tmp_path, monkeypatch):
    from monitor.engine.models import find_gguf

    with pytest.raises(ModelLoadError, match="GGUF file .* does not exist"):
        load_model(str(tmp_path / "model.gguf"))
    d = tmp_path / "one"
    d.mkdir()
    (d / "m.Q4.gguf").write_bytes(b"GGUF")
    assert find_gguf(str(d)) == d / "m.Q4.gguf" and find_gguf(str(d / "m.Q4.gguf")) == d / "m.Q4.gguf"
    (d / "m.Q8.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="several GGUF files"):
        find_gguf(str(d))
    (d / "config.json").write_text("{}")  # a transformers directory wins over stray .gguf files
    assert find_gguf(str(d)) is None
    # A missing optional package names the install command.
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ModelLoadError, match=r"needs the gguf package.*pip install 'evalaware-monitor\[gguf\]'"):
        load_model(str(d / "m.Q4.gguf"))


def test_unreadable_gguf_gets_a_message(tmp_path):
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    f = tmp_path / "broken.gguf"
    f.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="Cannot load GGUF file"):
        load_model(str(f), device="cpu")


def test_sampling_defaults_come_from_generation_config(tiny_model_dir):
    from monitor.engine.models import SAMPLING_DEFAULTS, sampling_defaults

    lm = load_model(str(tiny_model_dir), device="cpu", dtype="fp32")
    assert sampling_defaults(lm.model) == (SAMPLING_DEFAULTS, {k: "monitor" for k in SAMPLING_DEFAULTS})
    lm.model.generation_config.temperature = 0.2
    lm.model.generation_config.top_k = 64
    values, source = sampling_defaults(lm.model)
    assert values == {"temperature": 0.2, "top_p": 0.95, "top_k": 64}
    assert source == {"temperature": "generation_config", "top_p": "monitor", "top_k": "generation_config"}


def test_supplied_chat_template_is_used_and_recorded(tiny_model_dir, tmp_path):
    from monitor.engine.bpe import CHATML_TEMPLATE
    from monitor.engine.chat import render_prompt
    from monitor.prompts.record import Prompt

    lm = load_model(ModelSpec(str(tiny_model_dir), device="cpu", dtype="fp32", chat_template=CHATML_TEMPLATE))
    assert lm.tokenizer.chat_template == CHATML_TEMPLATE
    assert render_prompt(lm.tokenizer, Prompt("p", "Hi")).text.endswith("<|im_start|>assistant\n")
    d = lm.describe()["chat_template"]
    assert d["supplied"] is True and d["text"] == CHATML_TEMPLATE and len(d["sha256"]) == 64
