"""Loading a run's model and tokenizer: names resolve, dtypes and quantization apply, failures explain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tuitune.config import DEMO_MODEL, ModelSettings
from tuitune.errors import ModelLoadError
from tuitune.models.loading import (
    describe_precision,
    load_model,
    load_model_config,
    load_tokenizer,
    resolve_model_path,
    resolved_dtype,
)


def test_names_resolve_to_the_demo_folder_a_local_folder_or_a_hub_id(
    demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(demo_model_path.parent.parent))
    assert resolve_model_path(DEMO_MODEL) == str(demo_model_path)
    monkeypatch.chdir(demo_model_path.parent)
    assert Path(resolve_model_path(demo_model_path.name)).samefile(demo_model_path)
    assert resolve_model_path("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


def test_the_demo_model_loads_in_float32_on_a_cpu_ready_to_train(demo_model_path: Path) -> None:
    import torch

    settings = ModelSettings()
    assert resolved_dtype(settings, "cpu") == "float32"
    assert resolved_dtype(ModelSettings(dtype="bfloat16"), "cpu") == "bfloat16"
    model = load_model(settings, device="cpu")
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert model.config.use_cache is False  # no KV cache while training
    tokenizer = load_tokenizer(settings)
    batch = tokenizer(["What is LoRA?", "Hi"], return_tensors="pt", padding=True)
    assert tokenizer.padding_side == "right"
    assert model(**batch, labels=batch["input_ids"]).loss.isfinite()


@pytest.mark.integration  # trains a few steps
def test_the_demo_model_loads_in_4bit_and_a_lora_on_it_learns(demo_model_path: Path) -> None:
    """QLoRA on a CPU: bitsandbytes' NF4 layers with fp32 compute, and peft adapters that train."""
    import bitsandbytes as bnb
    import torch
    from peft import LoraConfig, get_peft_model

    settings = ModelSettings(load_in_4bit=True)
    assert describe_precision(settings, "cpu") == "4-bit NF4 (compute float32)"
    model = load_model(settings, device="cpu")
    assert isinstance(model.model.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    assert model.model.layers[0].self_attn.q_proj.weight.dtype == torch.uint8
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "up_proj"]))
    tokenizer = load_tokenizer(settings)
    batch = tokenizer(["The capital of France is Paris."], return_tensors="pt")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_a_tokenizer_without_a_pad_token_pads_with_eos(demo_model_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-pad"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        shutil.copy(demo_model_path / name, folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("pad_token")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = load_tokenizer(ModelSettings(name_or_path=str(folder)))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"


def test_an_unknown_hub_id_says_where_it_looked_and_mentions_offline_mode() -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_model(ModelSettings(name_or_path="no-such-owner/no-such-model"), device="cpu")
    message = str(caught.value)
    assert "no local folder" in message and "Hugging Face Hub" in message
    assert "HF_HUB_OFFLINE" in message and "hf download no-such-owner/no-such-model" in message
    assert "\n" not in message


def test_a_missing_or_wrong_local_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model_config(str(tmp_path / "missing" / "model"))
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model_config(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_model_config(str(tmp_path / "weights.bin"))
