"""A user writes run configurations by hand, by builder, and by file; mistakes are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuitune.config import DEMO_MODEL, SAMPLE_DATASET, ConfigBuilder, RunConfig, load_config, parse_config
from tuitune.errors import IncompatibleConfigError, InvalidConfigError, MissingConfigError, TuituneError


def full_config() -> RunConfig:
    return (
        ConfigBuilder()
        .name("my-run")
        .method("lora")
        .model("Qwen/Qwen2.5-0.5B", revision="main", dtype="bfloat16", trust_remote_code=False)
        .data(
            "data/train.jsonl",
            format="chat",
            template="chatml",
            max_samples=500,
            validation_split=0.05,
            max_length=1024,
            packing=True,
            data_files=["a.jsonl", "b.jsonl"],
        )
        .lora(r=16, alpha=32, dropout=0.1, target_modules=["q_proj", "v_proj"], use_rslora=True)
        .training(
            epochs=2.5,
            batch_size=8,
            gradient_accumulation_steps=4,
            learning_rate=1e-4,
            lr_scheduler="linear",
            bf16=True,
            gradient_checkpointing=True,
            report_to=["none"],
        )
        .evaluation(metrics=["rougeL", "bleu"], samples=10, max_new_tokens=32)
        .merge_after_training()
        .build()
    )


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_config_round_trips_exactly_through_files(tmp_path: Path, suffix: str) -> None:
    config = full_config()
    path = config.save(tmp_path / f"run{suffix}")
    loaded = load_config(path)
    assert loaded == config
    assert loaded.to_dict() == config.to_dict()
    # Saving what was loaded gives the same bytes: nothing drifts across round trips.
    again = loaded.save(tmp_path / f"again{suffix}")
    assert again.read_text() == path.read_text()


def test_defaults_are_the_demo_and_sane() -> None:
    config = RunConfig()
    assert config.model.name_or_path == DEMO_MODEL and config.data.source == SAMPLE_DATASET
    assert config.method == "lora" and config.lora.target_modules == "auto"
    assert config.data.train_on_responses_only is True
    assert config.model.trust_remote_code is False


@pytest.mark.parametrize(
    "data, error, fragments",
    [
        ({"lora": {"r": 0}}, InvalidConfigError, ["lora.r", "at least 1"]),
        ({"lora": {"dropout": 1.0}}, InvalidConfigError, ["lora.dropout", "[0, 1)"]),
        ({"lora": {"dropout": -0.1}}, InvalidConfigError, ["lora.dropout"]),
        ({"training": {"fp16": True, "bf16": True}}, IncompatibleConfigError, ["fp16", "bf16"]),
        (
            {"method": "full_finetuning", "model": {"load_in_4bit": True}},
            IncompatibleConfigError,
            ["full_finetuning", "4-bit"],
        ),
        ({"method": "sft"}, InvalidConfigError, ["method", "'lora'", "'qlora'"]),
        ({"training": {"batch_size": 0}}, InvalidConfigError, ["training.batch_size"]),
        ({"model": {"dtype": "float64"}}, InvalidConfigError, ["model.dtype", "bfloat16"]),
        (
            {"model": {"load_in_4bit": True, "load_in_8bit": True}},
            IncompatibleConfigError,
            ["load_in_4bit", "load_in_8bit"],
        ),
    ],
)
def test_invalid_values_name_the_field_and_what_is_allowed(data: dict, error: type, fragments: list[str]) -> None:
    with pytest.raises(error) as caught:
        parse_config(data)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_unknown_key_in_a_file_is_rejected_with_the_closest_valid_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a path as a user types it: a long one is shown shortened
    path = Path("run.yaml")
    path.write_text("method: lora\ntraining:\n  learning_rat: 0.001\n")
    with pytest.raises(InvalidConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "training.learning_rat" in message and "training.learning_rate" in message and str(path) in message

    path.write_text("lroa:\n  r: 8\n")
    with pytest.raises(InvalidConfigError, match="Did you mean 'lora'"):
        load_config(path)


def test_qlora_turns_on_4bit_and_says_so() -> None:
    config = parse_config({"method": "qlora"})
    assert config.model.load_in_4bit is True
    assert any("load_in_4bit" in note for note in config.notes)
    # Once saved, the file says what ran, and loads without a note.
    assert parse_config(config.to_dict()).notes == []


def test_missing_and_malformed_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(MissingConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("training: [unclosed\n")
    with pytest.raises(InvalidConfigError) as caught:
        load_config(broken)
    assert "\n" not in str(caught.value)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(InvalidConfigError, match="mapping"):
        load_config(listed)


def test_builder_validates_and_every_error_is_a_tuitune_error() -> None:
    assert ConfigBuilder().demo().training(max_steps=5).build().training.max_steps == 5
    with pytest.raises(TuituneError):
        ConfigBuilder().lora(r=-1).build()
    config = ConfigBuilder().build()
    with pytest.raises(Exception):
        config.training.batch_size = 0  # validated on assignment too (the TUI edits fields)
