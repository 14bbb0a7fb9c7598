"""A user exports a trained run for serving, from the CLI, the Python API, the app and the service:
a GGUF checked by a round trip (its figures in the run's events and the result), an Ollama
Modelfile with the run's template and stop tokens, a vLLM script with vLLM's own checks, every
file an artifact of the run, and all of it gone when the run's files are deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tuitune
from tests.helpers import assert_one_line_error, cli, cli_json
from tests.trained_runs import greeting_config, home_env, new_home, write_greetings
from tuitune.export import chat_formats
from tuitune.export.gguf.roundtrip import RoundTripError
from tuitune.export.vllm import VllmCheckError, check_adapter
from tuitune.runs.results import ExportResult, read_result
from tuitune.store import COMPLETED, Run, open_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_home(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> tuple[Path, dict[str, int]]:
    home = new_home(tmp_path_factory, shared_models_dir, "export-home")
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        lora = tuitune.train(greeting_config(data, max_steps=30, name="greeter").build())
        full = tuitune.train(greeting_config(data, method="full_finetuning", max_steps=20, name="full").build())
    assert lora.status == COMPLETED and full.status == COMPLETED
    return home, {"lora": lora.run_id, "full": full.run_id}


@pytest.fixture
def runs(trained_home: tuple[Path, dict[str, int]], monkeypatch: pytest.MonkeyPatch) -> dict[str, Run]:
    home, ids = trained_home
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    store = open_store()
    return {kind: store.get_run(run_id) for kind, run_id in ids.items()}


def test_an_adapter_run_exports_to_ollama_from_the_cli_with_its_template_and_stop_tokens(
    runs: dict[str, Run],
) -> None:
    run = runs["lora"]
    document = read_result(ExportResult, cli_json("export", str(run.id), "--to", "ollama"), "export")
    gguf, modelfile = (Path(path) for path in document["files"])
    assert gguf.name == "greeter-q8_0.gguf" and gguf.parent == Path(str(run.output_dir)) / "export"
    check = document["round_trip"]
    assert check["passed"] and check["tokens_equal"] and check["greedy_agreement"] >= 0.99, check
    text = modelfile.read_text()
    assert "FROM ./greeter-q8_0.gguf\n" in text
    # The run trained with chatml (the demo tokenizer has no template of its own).
    go = chat_formats.go_template("chatml", bos_token="<|bos|>", eos_token="<|endoftext|>")
    assert f'TEMPLATE """{go}"""' in text
    assert 'PARAMETER stop "<|endoftext|>"' in text and 'PARAMETER stop "<|im_end|>"' in text
    assert document["commands"][0] == f"ollama create greeter -f {modelfile}"
    # No merged model is left behind: the adapter was merged in a staging folder, then removed.
    assert sorted(p.name for p in gguf.parent.iterdir()) == ["Modelfile", "greeter-q8_0.gguf"]
    store = open_store()
    kinds = {artifact.kind: artifact for artifact in store.artifacts(run.id)}
    assert kinds["gguf"].path == str(gguf) and kinds["gguf"].meta["round_trip"] == check
    assert kinds["modelfile"].path == str(modelfile)
    assert any("round trip (q8_0" in event.message for event in store.events(run.id))
    manifest = json.loads((Path(str(run.output_dir)) / ".tuitune-run.json").read_text())
    assert "export" in manifest["entries"]


def test_a_full_run_exports_a_q4_gguf_and_a_vllm_script_from_the_python_api(runs: dict[str, Run]) -> None:
    run = runs["full"]
    result = tuitune.export_run(run, to="gguf", quant="q4_0")
    assert result["round_trip"]["passed"] and result["round_trip"]["greedy_agreement"] >= 0.8
    assert Path(result["files"][0]).name == "full-q4_0.gguf"
    served = tuitune.export_run(run, to="vllm")
    script = Path(served["files"][-1]).read_text()
    model = Path(str(run.output_dir)) / "model"
    assert f"exec vllm serve {model} --served-model-name full --chat-template " in script
    template = Path(served["files"][0]).read_text()
    assert template == chat_formats.jinja_template(
        "chatml", bos_token="<|bos|>", eos_token="<|endoftext|>", with_bos=False
    )  # the demo tokenizer adds no BOS of its own, so neither does the template


def test_an_adapter_run_gets_a_vllm_lora_command_checked_as_vllm_checks_it(runs: dict[str, Run]) -> None:
    run = runs["lora"]
    document = cli_json("export", str(run.id), "--to", "vllm")
    script = Path(document["files"][-1]).read_text()
    adapter = Path(str(run.output_dir)) / "adapter"
    assert f"--enable-lora --lora-modules greeter={adapter} --max-lora-rank 16" in script
    assert "LoRA rank 16" in script


def test_the_vllm_checks_refuse_what_vllm_would_refuse_and_round_a_rank_up() -> None:
    base = {"r": 16, "target_modules": ["q_proj", "v_proj"], "bias": "none"}
    assert check_adapter({**base, "r": 17}, run_hint="x").max_lora_rank == 32
    assert check_adapter({**base, "r": 512}, run_hint="x").max_lora_rank == 512
    for change, words in (
        ({"r": 1024}, "ranks up to 512"),
        ({"use_dora": True}, "DoRA"),
        ({"bias": "all"}, "biases"),
        ({"modules_to_save": ["lm_head"]}, "fully trained modules"),
        ({"target_modules": ["q_proj", "mlp.fc1"]}, "not to mlp.fc1"),
    ):
        with pytest.raises(VllmCheckError) as refused:
            check_adapter({**base, **change}, run_hint="tuitune export 3 --to vllm --merge")
        assert words in str(refused.value) and "--merge" in str(refused.value)
        assert "\n" not in str(refused.value)


def test_a_file_that_fails_its_round_trip_is_not_kept_and_the_run_says_why(
    runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is real: a GGUF written without the q/k permutation (the classic converter bug)
    fails it, at f32, where the logits must match to 1e-5."""
    from tuitune.export.gguf import writer

    real = writer.write_gguf
    monkeypatch.setattr(writer, "write_gguf", lambda *a, **k: real(*a, **{**k, "permute": False}))
    run = runs["full"]
    with pytest.raises(RoundTripError) as failed:
        tuitune.export_run(run, to="gguf", quant="f32")
    assert "not kept" in str(failed.value) and "max |logit diff|" in str(failed.value)
    assert not (Path(str(run.output_dir)) / "export" / "full-f32.gguf").exists()
    assert any(e.level == "error" and "failed its round trip" in e.message for e in open_store().events(run.id))


def test_refusals_are_one_line(runs: dict[str, Run]) -> None:
    run = runs["lora"]
    assert_one_line_error(cli("export", str(run.id), "--to", "gguf", "--quant", "q3"), "Unknown quantization", "q8_0")
    assert_one_line_error(cli("export", str(run.id), "--to", "onnx"), "Unknown export target", "ollama")
    assert_one_line_error(
        cli("export", str(run.id), "--to", "gguf", "--quant", "q4_k_m", env={"PATH": "/usr/bin:/bin"}),
        "llama-quantize",
        "q8_0",
    )


def test_the_service_exports_as_a_task_and_refuses_an_unknown_quantization(runs: dict[str, Run]) -> None:
    import httpx

    from tests.helpers import running_server, wait_for

    run = runs["full"]
    with running_server() as url:
        bad = httpx.post(f"{url}/runs/{run.id}/export", json={"to": "gguf", "quant": "q3"}, timeout=30)
        assert bad.status_code == 422 and "q8_0" in bad.text
        started = httpx.post(f"{url}/runs/{run.id}/export", json={"to": "ollama", "quant": "q8_0"}, timeout=30)
        assert started.status_code == 202, started.text
        task: dict = {}

        def done() -> bool:
            task.update(httpx.get(f"{url}/tasks/{started.json()['id']}", timeout=30).json())
            return task["status"] != "running"

        wait_for(done, timeout=300, interval=0.2, what="the export task")
    assert task["status"] == "completed", task
    result = read_result(ExportResult, task["result"], "export")
    assert result["round_trip"]["passed"] and Path(result["files"][1]).name == "Modelfile"


async def test_the_app_exports_the_run_under_the_cursor(runs: dict[str, Run]) -> None:
    from tuitune._dev.pilot import notifications, wait_until
    from tuitune.tui.app import create_app
    from tuitune.tui.screens.history import HistoryScreen
    from tuitune.tui.widgets.export_modal import ExportModal

    run = runs["lora"]
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count > 0, what="the runs to load")
        history.table.move_to(run.id)
        await pilot.press("g")
        assert isinstance(app.screen, ExportModal)
        await pilot.press("down", "down", "space")  # the third choice: vLLM
        await pilot.press("ctrl+s")
        await wait_until(
            pilot,
            lambda: any(t.startswith(f"Export {run.name}: Exported") for t in notifications(app)),
            timeout=240,
            what="the export",
        )
        assert not notifications(app, "error")
    assert (Path(str(run.output_dir)) / "export" / "serve-vllm.sh").is_file()


def test_deleting_the_runs_files_deletes_what_was_exported(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> None:
    home = new_home(tmp_path_factory, shared_models_dir, "export-delete-home")
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        run = tuitune.train(greeting_config(data, method="full_finetuning", max_steps=2, name="short").build())
        document = cli_json("export", str(run.run_id), "--to", "ollama", "--quant", "f16")
        assert all(Path(path).exists() for path in document["files"])
        cli("delete", str(run.run_id), "--files", "--yes", check=True)
        assert not any(Path(path).exists() for path in document["files"])
        assert not Path(str(run.output_dir)).exists()


def test_the_exported_gguf_uploads_with_its_modelfile_and_a_card_that_gives_its_round_trip(
    runs: dict[str, Run],
) -> None:
    run = runs["full"]
    exported = tuitune.export_run(run, to="ollama", quant="q4_0")
    result = tuitune.upload(run, "me/full-gguf", gguf=True, dry_run=True)
    assert result.kind == "gguf" and result.files == ["Modelfile", "README.md", "full-q4_0.gguf"]
    check = exported["round_trip"]
    assert "## How this file was checked" in result.card, result.card
    assert f"{check['greedy_agreement']:.1%}" in result.card and "greedy agreement >= 80%" in result.card
    assert "ollama run hf.co/me/full-gguf" in result.card and "library_name: gguf" in result.card
    refused = cli("upload", str(runs["lora"].id), "me/x", "--gguf", "--merge-adapter", "--dry-run")
    assert_one_line_error(refused, "--merge-adapter")
