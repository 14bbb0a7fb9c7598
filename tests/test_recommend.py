"""`tuitune recommend`: the decision table row by row, the config it writes, and that config training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import assert_one_line_error, cli
from tuitune.config import load_config
from tuitune.errors import DatasetNotFoundError
from tuitune.models.recommend import Recommendation, recommend

# Llama-shaped configs (no weights): describe_model sizes them on the meta device.
SHAPES = {
    "13b": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40),  # 13.0B
    "3b": dict(hidden_size=2560, intermediate_size=6912, num_hidden_layers=32, num_attention_heads=32),  # 2.7B
    "500m": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),  # 468M
}


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from transformers import LlamaConfig

    folders = {}
    for name, shape in SHAPES.items():
        folder = tmp_path_factory.mktemp(f"llama-{name}")
        LlamaConfig(vocab_size=32000, **shape).save_pretrained(folder)
        folders[name] = str(folder)
    return folders


def _pick(advice: Recommendation) -> tuple[str, int | None, bool]:
    return advice.method, advice.lora_r, advice.gradient_checkpointing


@pytest.mark.parametrize(
    ("size", "vram", "expected"),
    [
        ("13b", 24, ("qlora", 16, True)),  # > 7B: QLoRA whatever the GPU
        ("13b", 80, ("qlora", 16, True)),
        ("3b", 24, ("lora", 16, False)),  # > 1B with >= 16 GB
        ("3b", 15.9, ("lora", 16, False)),  # a "16 GB" card reports a little less
        ("3b", 12, ("qlora", 8, True)),  # > 1B under 16 GB
        ("500m", 12, ("lora", 8, False)),  # > 300M with >= 8 GB
        ("500m", 6, ("lora", 4, False)),  # > 300M under 8 GB
        ("demo", 8, ("lora", 8, False)),  # <= 300M with >= 4 GB
        ("demo", 2, ("full_finetuning", None, False)),  # <= 300M under 4 GB
    ],
)
def test_the_decision_table_row_by_row(
    model_dirs: dict[str, str], demo_model_path: Path, size: str, vram: float, expected: tuple
) -> None:
    model = "tuitune/demo" if size == "demo" else model_dirs[size]
    advice = recommend(model, vram_gb=vram)
    assert _pick(advice) == expected
    assert advice.fits and advice.estimated_memory_gb[advice.method] <= vram
    assert set(advice.estimated_memory_gb) == {"full_finetuning", "lora", "qlora"}
    assert advice.reason.endswith(".") and "\n" not in advice.reason
    config = advice.to_config()
    assert (config.method, config.training.batch_size, config.training.gradient_checkpointing) == (
        advice.method,
        advice.batch_size,
        advice.gradient_checkpointing,
    )
    assert config.model.load_in_4bit == (advice.method == "qlora") and not config.notes


def test_a_bigger_gpu_gets_a_bigger_batch(model_dirs: dict[str, str]) -> None:
    small, large = recommend(model_dirs["500m"], vram_gb=10), recommend(model_dirs["500m"], vram_gb=40)
    assert _pick(small) == _pick(large)
    assert large.batch_size > small.batch_size


def test_a_model_too_big_even_for_qlora_says_so(model_dirs: dict[str, str]) -> None:
    advice = recommend(model_dirs["13b"], vram_gb=4)
    assert not advice.fits and advice.batch_size == 1
    assert "smaller model" in advice.reason


def test_without_a_gpu_it_explains_that_it_assumes_the_cpu(demo_model_path: Path, model_dirs: dict[str, str]) -> None:
    advice = recommend("tuitune/demo", detect_gpu=False)
    assert advice.vram_gb is None and advice.device == "cpu"
    assert advice.method == "full_finetuning"  # the smallest-memory row
    assert advice.reason.startswith("No GPU detected: assuming CPU")
    big = recommend(model_dirs["3b"], detect_gpu=False)
    assert _pick(big) == ("qlora", 8, True) and big.batch_size == 1
    assert "slowly on a CPU" in big.reason


def test_a_local_dataset_sets_max_length_from_its_rows(demo_model_path: Path, tmp_path: Path) -> None:
    rows = tmp_path / "short.jsonl"
    rows.write_text(
        "".join(json.dumps({"instruction": "Say hi.", "input": "", "output": "Hi!"}) + "\n" for _ in range(50))
    )
    assert recommend("tuitune/demo", vram_gb=8, dataset=str(rows)).max_length == 64
    sample = recommend("tuitune/demo", vram_gb=8, dataset="tuitune/sample")
    assert 64 <= sample.max_length <= 256 and sample.to_config().data.source == "tuitune/sample"
    assert recommend("tuitune/demo", vram_gb=8, dataset="tuitune/sample", max_length=300).max_length == 300
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        recommend("tuitune/demo", vram_gb=8, dataset=str(tmp_path / "missing.jsonl"))


def test_the_command_prints_a_table_and_writes_a_config_train_accepts(
    model_dirs: dict[str, str], tmp_path: Path
) -> None:
    from tuitune.cli.app import app

    output = tmp_path / "recommended.yaml"
    result = CliRunner().invoke(app, ["recommend", model_dirs["3b"], "--vram", "12", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "QLoRA" in result.output and "Recommended" in result.output and "fits" in result.output
    config = load_config(output)
    assert (config.method, config.lora.r, config.training.gradient_checkpointing) == ("qlora", 8, True)
    assert config.model.name_or_path == model_dirs["3b"] and config.model.load_in_4bit


@pytest.mark.integration
def test_json_output_is_one_document_with_the_pick_and_the_estimates(model_dirs: dict[str, str]) -> None:
    result = cli("recommend", model_dirs["500m"], "--vram", "6", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["method"], document["lora_r"]) == ("lora", 4)
    assert document["parameters"] > 300_000_000 and document["vram_gb"] == 6
    assert set(document["estimated_memory_gb"]) == {"full_finetuning", "lora", "qlora"}
    assert document["estimated_memory_gb"]["lora"] <= 6
    assert {"batch_size", "gradient_checkpointing", "reason"} <= set(document)


@pytest.mark.integration
def test_an_unknown_model_is_one_line_naming_offline_mode() -> None:
    result = cli("recommend", "no-such-owner/no-such-model")
    assert_one_line_error(result, "no-such-owner/no-such-model", "HF_HUB_OFFLINE")
    assert result.stdout == ""
    assert_one_line_error(cli("recommend", "tuitune/demo", "--vram", "0"), "--vram", code=2)


@pytest.mark.slow
def test_the_recommended_config_trains(demo_model_path: Path, tmp_path: Path) -> None:
    """The story end to end: ask for a recommendation, save it, train with it."""
    engine = pytest.importorskip("tuitune.engine.api", reason="the training engine has not landed yet")
    from tuitune.cli.app import app

    output = tmp_path / "demo.yaml"
    result = CliRunner().invoke(
        app, ["recommend", "tuitune/demo", "--vram", "8", "--dataset", "tuitune/sample", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    config = load_config(output)
    assert config.method == "lora" and config.data.source == "tuitune/sample"
    # Only keep it short: the recommendation's own settings, a few steps.
    config.training.max_steps = 3
    config.training.logging_steps = 1
    config.data.max_samples = 40
    trained = engine.train(config)
    assert trained.status == "completed" and trained.steps_completed == 3
    assert trained.weights_dir and (Path(trained.weights_dir) / "adapter_config.json").is_file()


@pytest.mark.integration
def test_the_command_starts_without_the_training_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tuitune.cli, tuitune.cli.recommend_cmd, tuitune.models.recommend; "
        "print([m for m in ('torch', 'transformers', 'peft', 'bitsandbytes') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
