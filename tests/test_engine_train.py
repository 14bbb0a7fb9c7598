"""A user trains the demo model with each method, in-process through the Python API."""

from __future__ import annotations

from pathlib import Path

import pytest

import tuitune
from tuitune.config import ConfigBuilder
from tuitune.errors import DatasetNotFoundError, OutOfMemoryError, OutputNotWritableError, TrainingError
from tuitune.store import COMPLETED, open_store

pytestmark = pytest.mark.slow


def demo_config(**training):
    settings = {"max_steps": 6, "batch_size": 4, "logging_steps": 2, "save_steps": 100, "learning_rate": 1e-3}
    settings.update(training)
    return ConfigBuilder().demo().data(max_length=128, max_samples=120).training(**settings)


def test_lora_run_completes_loss_falls_and_adapter_loads(demo_model_path: Path) -> None:
    config = demo_config(max_steps=30, logging_steps=3).lora(r=16, alpha=32).name("story-lora").build()
    result = tuitune.train(config)

    assert result.status == COMPLETED
    assert result.steps_completed == 30
    store = open_store()
    run = store.get_run(result.run_id)
    assert run.status == COMPLETED and run.name == "story-lora"
    losses = [p.loss for p in store.metric_points(run.id) if p.loss is not None]
    assert len(losses) >= 5
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert all(p.tokens_per_second is None or p.tokens_per_second > 0 for p in store.metric_points(run.id))

    output = Path(result.output_dir)
    assert (output / "config.yaml").exists()
    assert (output / "adapter" / "adapter_config.json").exists()
    assert (output / "adapter" / "adapter_model.safetensors").exists()
    assert any(a.kind == "adapter" for a in store.artifacts(run.id))

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(str(demo_model_path))
    model = PeftModel.from_pretrained(base, str(output / "adapter"))
    tokenizer = AutoTokenizer.from_pretrained(str(output / "adapter"))
    ids = tokenizer("What is LoRA?", return_tensors="pt")
    assert model(**ids).logits.shape[-1] == base.config.vocab_size
    # The saved config is exactly what ran.
    assert tuitune.load_config(output / "config.yaml").to_dict() == run.config


@pytest.mark.parametrize(
    "method, extra",
    [
        ("qlora", {}),
        ("full_finetuning", {}),
        ("instruction_tuning", {}),
        ("lora", {"use_dora": True}),
        ("lora", {"use_rslora": True}),
    ],
)
def test_each_method_completes_and_its_output_loads(demo_model_path: Path, method: str, extra: dict) -> None:
    builder = demo_config(max_steps=4).method(method)
    if extra:
        builder = builder.lora(**extra)
    result = tuitune.train(builder.build())
    assert result.status == COMPLETED
    output = Path(result.output_dir)
    from transformers import AutoModelForCausalLM

    if method == "full_finetuning":
        model = AutoModelForCausalLM.from_pretrained(str(output / "model"))
        assert model.config.model_type == "llama"
    else:
        from peft import PeftConfig, PeftModel

        adapter = output / "adapter"
        peft_config = PeftConfig.from_pretrained(str(adapter))
        assert peft_config.use_dora == bool(extra.get("use_dora"))
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(demo_model_path)), str(adapter))
        assert model is not None
    if method == "qlora":
        run = open_store().get_run(result.run_id)
        assert run.config["model"]["load_in_4bit"] is True


def test_gradient_checkpointing_and_packing_train(demo_model_path: Path) -> None:
    config = demo_config(max_steps=4, gradient_checkpointing=True).data(packing=True).build()
    assert tuitune.train(config).status == COMPLETED


def test_missing_dataset_is_refused_in_one_line_before_a_run_is_recorded(tmp_path: Path) -> None:
    config = ConfigBuilder().demo().data(str(tmp_path / "nope.jsonl")).training(max_steps=2).build()
    with pytest.raises(DatasetNotFoundError) as refused:
        tuitune.train(config)
    assert "nope.jsonl" in str(refused.value) and "\n" not in str(refused.value)
    # The data is read before the run is recorded (as `tuitune train` does): no failed run is left.
    assert open_store().count_runs() == 0


def test_unwritable_output_is_refused_before_the_model_loads_and_leaves_nothing(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        config = ConfigBuilder().demo().training(max_steps=2, output_dir=str(locked / "out")).build()
        import os

        if os.access(locked, os.W_OK):  # running as root: permissions do not apply
            config = ConfigBuilder().demo().training(max_steps=2, output_dir="/proc/tuitune-out").build()
        with pytest.raises(OutputNotWritableError, match="output folder"):
            tuitune.train(config)
        # Nothing half-made is left: no run in the history, no folder on disk.
        assert open_store().count_runs() == 0
        assert not (locked / "out").exists()
    finally:
        locked.chmod(0o700)


def test_out_of_memory_becomes_a_hint() -> None:
    import torch

    from tuitune.engine.runner import describe_failure

    error = describe_failure(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert isinstance(error, OutOfMemoryError)
    assert "batch-size" in str(error) and "qlora" in str(error)
    generic = describe_failure(ValueError("boom\nsecond line"))
    assert isinstance(generic, TrainingError) and "\n" not in str(generic)
