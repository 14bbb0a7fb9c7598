"""A user merges a trained adapter into its base: a standalone model that loads without peft and
computes exactly what base + adapter computed, whether the adapter came from LoRA or QLoRA."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import tuitune
from tests.helpers import assert_one_line_error, cli
from tests.trained_runs import greeting_config, home_env, new_home, write_greetings
from tuitune.config import ConfigBuilder
from tuitune.errors import ExportError, RunStateError
from tuitune.export import merge_adapter, merge_run
from tuitune.runs.results import MergeResult, read_result
from tuitune.store import COMPLETED, Run, open_store

pytestmark = pytest.mark.slow

PROMPT = "<|im_start|>user\nGreet Ada and mention music.<|im_end|>\n<|im_start|>assistant\nHello Ada,"


@pytest.fixture(scope="module")
def trained_home(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> tuple[Path, dict[str, int]]:
    home = new_home(tmp_path_factory, shared_models_dir, "merge-home")
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        lora = tuitune.train(greeting_config(data, max_steps=10, name="auto-merged", merge_after_training=True).build())
        qlora = tuitune.train(greeting_config(data, method="qlora", max_steps=6, name="quantized").build())
    assert lora.status == COMPLETED and qlora.status == COMPLETED
    return home, {"lora": lora.run_id, "qlora": qlora.run_id}


@pytest.fixture
def runs(trained_home: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch) -> dict[str, Run]:
    home, ids = trained_home
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    store = open_store()
    return {method: store.get_run(run_id) for method, run_id in ids.items()}


def folder(run: Run) -> Path:
    """A trained run's folder (a trained run always has one)."""
    assert run.output_dir, run
    return Path(run.output_dir)


def adapter_logits(adapter_dir: Path, base: Path):
    """What base + adapter (peft) computes for PROMPT, in float32."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), str(adapter_dir)
    ).eval()
    with torch.no_grad():
        return model(**tokenizer(PROMPT, return_tensors="pt")).logits


def merged_logits(folder: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(**tokenizer(PROMPT, return_tensors="pt")).logits


def test_merge_after_training_leaves_a_merged_model_equal_to_base_plus_adapter(
    runs: dict[str, Run], demo_model_path: Path
) -> None:
    import torch

    run = runs["lora"]
    merged = folder(run) / "merged"
    artifacts = [a for a in open_store().artifacts(run.id) if a.kind == "merged"]
    assert [Path(a.path) for a in artifacts] == [merged.resolve()]

    files = sorted(p.name for p in merged.iterdir())
    assert "config.json" in files and "model.safetensors" in files and "tokenizer.json" in files
    assert not any(name.startswith("adapter_") for name in files)

    expected = adapter_logits(folder(run) / "adapter", demo_model_path)
    assert torch.allclose(merged_logits(merged), expected, atol=1e-5)
    # ...and the adapter did change something: the merge is not the plain base.
    assert not torch.allclose(merged_logits(demo_model_path), expected, atol=1e-3)


def test_merged_model_loads_with_transformers_alone_without_peft(runs: dict[str, Run]) -> None:
    merged = folder(runs["lora"]) / "merged"
    code = (
        "import sys\n"
        "sys.modules['peft'] = None  # any attempt to import peft now fails\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"model = AutoModelForCausalLM.from_pretrained({str(merged)!r})\n"
        f"tokenizer = AutoTokenizer.from_pretrained({str(merged)!r})\n"
        "ids = tokenizer('Hello', return_tensors='pt').input_ids\n"
        "print(type(model).__name__, model(ids).logits.shape[-1])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["LlamaForCausalLM", "2048"]


def test_qlora_adapter_is_merged_into_full_precision_weights(
    runs: dict[str, Run], demo_model_path: Path, tmp_path: Path
) -> None:
    import torch

    run = runs["qlora"]
    assert run.config["model"]["load_in_4bit"] is True
    out = merge_run(run, tmp_path / "qlora-merged", dtype="float32")

    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["dtype"] == "float32"
    # Real weights, not packed 4-bit ones: the same tensors, with the same shapes, as the base.
    from safetensors import safe_open

    with (
        safe_open(str(out / "model.safetensors"), "pt") as merged,
        safe_open(str(demo_model_path / "model.safetensors"), "pt") as base,
    ):
        assert set(merged.keys()) == set(base.keys())
        name = "model.layers.0.self_attn.q_proj.weight"
        assert merged.get_tensor(name).dtype == torch.float32
        assert merged.get_tensor(name).shape == base.get_tensor(name).shape
    assert torch.allclose(merged_logits(out), adapter_logits(folder(run) / "adapter", demo_model_path), atol=1e-5)
    assert any(a.kind == "merged" and a.path == str(out.resolve()) for a in open_store().artifacts(run.id))


def test_merge_command_takes_a_run_or_an_adapter_folder_and_a_dtype(runs: dict[str, Run], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tuitune.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["merge", "auto-merged", str(tmp_path / "half"), "--dtype", "float16", "--json"])
    assert result.exit_code == 0, result.output
    document = read_result(MergeResult, json.loads(result.stdout), "merge")  # the type the app reads
    assert document["run_id"] == runs["lora"].id and "model.safetensors" in document["files"]
    assert json.loads((tmp_path / "half" / "config.json").read_text())["dtype"] == "float16"

    adapter = folder(runs["lora"]) / "adapter"
    result = runner.invoke(app, ["merge", str(adapter), str(tmp_path / "from-folder"), "--base-model", "tuitune/demo"])
    assert result.exit_code == 0, result.output
    assert "Merged model saved to" in result.stdout
    assert (tmp_path / "from-folder" / "model.safetensors").is_file()
    # Merging again into the same folder replaces the earlier merge.
    merge_adapter(adapter, tmp_path / "from-folder", dtype="float32")
    assert json.loads((tmp_path / "from-folder" / "config.json").read_text())["dtype"] == "float32"


def test_merge_refuses_what_it_cannot_merge(runs: dict[str, Run], tmp_path: Path) -> None:
    adapter = folder(runs["lora"]) / "adapter"
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    (crowded / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        merge_adapter(adapter, crowded)
    assert (crowded / "notes.txt").read_text() == "mine"
    with pytest.raises(ExportError, match="not a LoRA adapter folder"):
        merge_adapter(tmp_path, tmp_path / "out")

    store = open_store()
    queued = store.create_run(
        name="later",
        config=ConfigBuilder().demo().build().to_dict(),
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
    )
    with pytest.raises(RunStateError, match="still queued"):
        merge_run(store.get_run(queued.id))


def test_merge_errors_on_the_command_line_are_one_line(tmp_path: Path) -> None:
    store = open_store()
    full_dir = tmp_path / "full-run"
    (full_dir / "model").mkdir(parents=True)
    (full_dir / "model" / "config.json").write_text("{}")
    config = ConfigBuilder().demo().method("full_finetuning").build().to_dict()
    run = store.create_run(
        name="full",
        config=config,
        model="tuitune/demo",
        method="full_finetuning",
        dataset="tuitune/sample",
        output_dir=str(full_dir),
    )
    store.set_status(run.id, COMPLETED)

    assert_one_line_error(cli("merge", "full", str(tmp_path / "out")), "fully fine-tuned", "no adapter to merge")
    assert_one_line_error(
        cli("merge", str(tmp_path / "missing-adapter"), str(tmp_path / "out")), "neither a folder nor a run"
    )
    assert_one_line_error(cli("merge", "full", str(tmp_path / "out"), "--dtype", "int4"), "Unknown dtype 'int4'")


def test_a_merged_model_is_private_like_the_rest_of_the_run_folder(runs: dict[str, Run]) -> None:
    run = runs["qlora"]
    target = folder(run) / "merged"
    umask = os.umask(0o022)  # the usual umask: what transformers saves with, unless told otherwise
    try:
        merged = cli("merge", str(run.id), str(target), "--dtype", "float32", check=True)
    finally:
        os.umask(umask)
    assert "Merged model saved to" in merged.stdout
    modes = {
        str(path.relative_to(target)): stat.S_IMODE(path.lstat().st_mode)
        for path in [target, *target.rglob("*")]
        if not path.is_symlink()
    }
    assert "model.safetensors" in modes and "tokenizer.json" in modes
    assert {name: mode for name, mode in modes.items() if mode != (0o700 if (target / name).is_dir() else 0o600)} == {}


def test_a_run_merged_to_its_default_folder_leaves_nothing_behind_when_deleted_with_its_files(
    tmp_path: Path, demo_model_path: Path
) -> None:
    data = write_greetings(tmp_path / "greetings.jsonl")
    trained = tuitune.train(greeting_config(data, max_steps=4, name="short-lived").build())
    assert trained.output_dir
    folder = Path(trained.output_dir)

    # No output folder given: a run's merge goes where the app and the service put it, <run>/merged.
    merged = cli("merge", str(trained.run_id), check=True)
    assert str((folder / "merged").resolve()) in merged.stdout.replace("\n", "")
    assert (folder / "merged" / "model.safetensors").is_file()

    deleted = cli("delete", str(trained.run_id), "--files", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "kept" not in deleted.stdout  # the merged model is tuitune's too
    assert not folder.exists()


def test_an_adapter_folder_needs_an_output_folder_to_merge_into(runs: dict[str, Run]) -> None:
    adapter = folder(runs["lora"]) / "adapter"
    assert_one_line_error(cli("merge", str(adapter)), "OUTPUT_DIR", "only a run has a default", code=2)


def test_the_service_merges_a_run_as_a_task_through_the_apps_job_runner(runs: dict[str, Run]) -> None:
    """`POST /runs/{id}/merge` runs the same child job the app runs: its result is the CLI's
    document, and a refusal is the CLI's one line, as the task's error and in the run's story."""
    import httpx

    from tests.helpers import running_server, wait_for

    run = runs["lora"]
    output = folder(run) / "merged-by-the-service"
    with running_server() as url:

        def finished(task_id: int) -> dict:
            found: dict = {}

            def done() -> bool:
                found.update(httpx.get(f"{url}/tasks/{task_id}", timeout=30).json())
                return found["status"] != "running"

            wait_for(done, timeout=300, interval=0.2, what=f"task {task_id}")
            return found

        started = httpx.post(f"{url}/runs/{run.id}/merge", json={"output": str(output)}, timeout=30)
        assert started.status_code == 202, started.text
        task = finished(started.json()["id"])
        assert task["status"] == "completed", task
        merged = read_result(MergeResult, task["result"], "merge")
        assert Path(merged["output_dir"]) == output and (output / "config.json").is_file()
        # A file where the merged model's folder would go: refused, in the CLI's words.
        blocked = folder(run) / "merged-into-a-file"
        blocked.write_text("not a folder")
        again = finished(
            httpx.post(f"{url}/runs/{run.id}/merge", json={"output": str(blocked)}, timeout=30).json()["id"]
        )
    assert again["status"] == "failed" and "\n" not in again["error"], again
    cli_words = cli("merge", str(run.id), str(blocked)).stderr.strip().removeprefix("error: ")
    assert again["error"] == cli_words
    story = [event.message for event in open_store().events(run.id)]
    assert any(f"Merge failed (task {again['id']}): {cli_words}" == line for line in story)
