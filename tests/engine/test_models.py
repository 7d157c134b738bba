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
