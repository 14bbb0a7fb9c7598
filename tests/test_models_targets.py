"""LoRA targets when `lora.target_modules` is auto: the projections of known families, every linear
layer but the head elsewhere, the same from a model or from its config alone."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tuitune.models.targets import lora_target_modules, stores_weights_transposed


def _tiny_configs():
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, OPTConfig

    small = dict(vocab_size=128)
    return {
        "gpt2": GPT2Config(n_layer=1, n_embd=32, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0, **small),
        "llama": LlamaConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2, **small),
        "gpt_neox": GPTNeoXConfig(
            num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=2, **small
        ),
        "opt": OPTConfig(
            num_hidden_layers=1,
            hidden_size=32,
            ffn_dim=64,
            num_attention_heads=2,
            word_embed_proj_dim=32,
            pad_token_id=0,
            bos_token_id=0,
            eos_token_id=0,
            **small,
        ),
    }


EXPECTED = {
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    # Architectures without a known set: every linear layer, head excluded.
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
}


@pytest.mark.parametrize("family", list(EXPECTED))
def test_targets_follow_the_architecture_from_a_model_or_its_config(family: str) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = _tiny_configs()[family]
    model = AutoModelForCausalLM.from_config(config)
    targets = lora_target_modules(model)
    assert targets == EXPECTED[family]
    assert lora_target_modules(config) == targets  # through a meta-device model
    head = model.get_output_embeddings()
    assert not any(module is head for name, module in model.named_modules() if name.rsplit(".", 1)[-1] in targets)
    # peft accepts them as they are, and the wrapped model still reports the same targets.
    transposed = stores_weights_transposed(model, targets)
    assert transposed == (family == "gpt2")  # Conv1D: peft is told, so it need not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        wrapped = get_peft_model(model, LoraConfig(r=2, target_modules=targets, fan_in_fan_out=transposed))
    assert wrapped.get_nb_trainable_parameters()[0] > 0
    assert lora_target_modules(wrapped) == targets


def test_a_4bit_model_gets_the_same_targets(demo_model_path: Path) -> None:
    from tuitune.config import ModelSettings
    from tuitune.models.loading import load_model

    model = load_model(ModelSettings(load_in_4bit=True), device="cpu")
    assert lora_target_modules(model) == EXPECTED["llama"]
