"""Describing a model from its config alone: exact size and shape without touching its weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.errors import ModelLoadError
from tuitune.models.inspect import describe_model


def test_the_demo_model_is_described_exactly(demo_model_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    info = describe_model("tuitune/demo")
    model = AutoModelForCausalLM.from_pretrained(demo_model_path)
    assert info.parameters == sum(p.numel() for p in model.parameters())
    assert (info.architecture, info.model_type) == ("LlamaForCausalLM", "llama")
    assert (info.num_layers, info.hidden_size, info.vocab_size) == (2, 128, model.config.vocab_size)
    assert info.max_position_embeddings == 1024
    assert info.has_chat_template is False
    assert Path(info.path).samefile(demo_model_path)
    # The adapter size it predicts is what peft builds.
    adapter = get_peft_model(model, LoraConfig(r=8, target_modules=info.lora_targets))
    assert adapter.get_nb_trainable_parameters()[0] == info.lora_parameters(8)


def test_a_local_gpt2_folder_with_tied_weights_counts_each_weight_once(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, GPT2Config

    GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=128, vocab_size=300).save_pretrained(tmp_path)
    info = describe_model(str(tmp_path))
    real = AutoModelForCausalLM.from_config(GPT2Config.from_pretrained(tmp_path))
    assert info.parameters == sum(p.numel() for p in real.parameters())
    assert info.lora_targets == ["c_attn", "c_proj", "c_fc"]
    assert info.has_chat_template is None  # no tokenizer files to tell


def test_a_13b_shaped_config_is_sized_without_weights(tmp_path: Path) -> None:
    from transformers import LlamaConfig

    LlamaConfig(
        hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40, vocab_size=32000
    ).save_pretrained(tmp_path)
    info = describe_model(str(tmp_path))
    assert info.parameters == 13_015_864_320  # Llama-2-13B
    assert info.linear_parameters < info.parameters


def test_an_unknown_model_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE"):
        describe_model("no-such-owner/no-such-model")
