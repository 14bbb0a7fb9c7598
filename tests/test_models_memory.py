"""The memory estimate orders methods and settings the way practice does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.models.inspect import ModelInfo, describe_model
from tuitune.models.memory import estimate_memory


@pytest.fixture
def llama_7b(tmp_path: Path) -> ModelInfo:
    from transformers import LlamaConfig

    LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000
    ).save_pretrained(tmp_path)
    return describe_model(str(tmp_path))


def test_a_7b_model_needs_tens_of_gb_to_fine_tune_fully_and_a_few_with_qlora(llama_7b: ModelInfo) -> None:
    full, lora, qlora = (
        estimate_memory(llama_7b, m, batch_size=1, max_length=512, lora_r=16, gradient_checkpointing=True)
        for m in ("full_finetuning", "lora", "qlora")
    )
    assert qlora.total_gb < lora.total_gb < full.total_gb
    # The usual rules of thumb: ~16 bytes per parameter fully, ~2 with LoRA, ~0.5 (+ change) with QLoRA.
    assert 70 < full.total_gb < 130
    assert 12 < lora.total_gb < 20
    assert 3.5 < qlora.total_gb < 8
    assert lora.trainable_parameters == qlora.trainable_parameters == llama_7b.lora_parameters(16)
    assert full.trainable_parameters == llama_7b.parameters
    for estimate in (full, lora, qlora):
        parts = (
            estimate.weights_gb
            + estimate.gradients_gb
            + estimate.optimizer_gb
            + estimate.activations_gb
            + estimate.overhead_gb
        )
        assert estimate.total_gb == pytest.approx(parts)


def test_checkpointing_shorter_sequences_and_smaller_batches_need_less(llama_7b: ModelInfo) -> None:
    def total(**changes) -> float:
        settings = dict(batch_size=4, max_length=1024, lora_r=8, gradient_checkpointing=False) | changes
        return estimate_memory(llama_7b, "lora", **settings).activations_gb

    assert total(gradient_checkpointing=True) < total() / 4
    assert total(max_length=512) < total()
    assert total(batch_size=1) == pytest.approx(total() / 4)
