"""A user shares a run on the Hugging Face Hub: the model card says what was trained and how well,
a dry run shows exactly what would go up, and every way it can fail is one line that says what to do
(with the token never written anywhere)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli
from tuitune.config import ConfigBuilder
from tuitune.export import upload
from tuitune.runs.results import UploadResult, read_result
from tuitune.store import COMPLETED, RUNNING, Run, open_store

SECRET = "hf_tuituneTestSecret0123456789"


@pytest.fixture(scope="module")
def adapter_template(tmp_path_factory: pytest.TempPathFactory, demo_model_path: Path) -> Path:
    """A LoRA adapter (non-zero, so merging changes the model) for the demo model, with its tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("adapter-template")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(demo_model_path, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM")
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(demo_model_path).save_pretrained(folder)
    return folder


def finished_run(
    adapter_template: Path,
    *,
    name: str = "shared",
    method: str = "lora",
    model: str = "tuitune/demo",
    dataset: str = "tuitune/sample",
    evaluated: bool = True,
) -> Run:
    """A completed run as the engine leaves it: folder with adapter/, final numbers, evaluations."""
    store = open_store()
    config = (
        ConfigBuilder()
        .model(model)
        .data(dataset)
        .method(method)
        .name(name)
        .training(max_steps=30, learning_rate=5e-3)
        .build()
        .to_dict()
    )
    run = store.create_run(name=name, config=config, model=model, method=method, dataset=dataset)
    output = Path(store.path).parent / "runs" / f"{run.id}-{name}"
    shutil.copytree(adapter_template, output / "adapter")
    config["training"]["output_dir"] = str(output)
    store.update_run(run.id, config=config, output_dir=str(output))
    store.set_status(run.id, RUNNING)
    store.heartbeat(run.id, steps_done=30, steps_total=30, epoch=1.0, tokens_per_second=2500.0)
    store.add_metric_points(run.id, [{"step": 30, "loss": 1.25}, {"step": 30, "eval_loss": 1.5}])
    store.update_run(run.id, train_loss=1.25)
    store.set_status(run.id, COMPLETED)
    if evaluated:
        settings = {
            "metrics": ["rougeL", "perplexity"],
            "samples": 8,
            "max_new_tokens": 24,
            "source": "validation split of x",
        }
        store.add_evaluation(
            run.id,
            label="base",
            metrics={"rougeL": 0.05, "perplexity": 900.0},
            sample_count=8,
            settings=settings,
            samples=[],
        )
        store.add_evaluation(
            run.id,
            label="finetuned",
            metrics={"rougeL": 0.85, "perplexity": 20.0},
            sample_count=8,
            settings=settings,
            samples=[],
        )
    return store.get_run(run.id)


def cache_model_card(hf_home: Path, repo_id: str, text: str) -> None:
    """Put a model's README.md in the local Hub cache, as a download would have."""
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "README.md").write_text(text)


@pytest.mark.integration  # the real CLI, in a child process
def test_model_card_has_hub_metadata_the_training_setup_results_and_scores(
    adapter_template: Path, tmp_path: Path
) -> None:
    from huggingface_hub import ModelCard

    cache_model_card(tmp_path / "hf-home", "Qwen/Qwen2.5-0.5B", "---\nlicense: apache-2.0\n---\n# Qwen\n")
    run = finished_run(
        adapter_template, name="qwen-qlora", method="qlora", model="Qwen/Qwen2.5-0.5B", dataset="tatsu-lab/alpaca"
    )

    # A fresh process, so the Hub client reads this test's HF_HOME (it fixes its cache path on import).
    result = cli("upload", str(run.id), "someone/qwen-greeter", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    text = json.loads(result.stdout)["card"]

    card = ModelCard(text).data.to_dict()  # the card's YAML header, as the Hub reads it
    assert card["base_model"] == "Qwen/Qwen2.5-0.5B"
    assert card["library_name"] == "peft"
    assert card["license"] == "apache-2.0"  # from the base model's card in the local cache
    assert card["datasets"] == ["tatsu-lab/alpaca"]
    assert {"tuitune", "lora", "qlora", "text-generation"} <= set(card["tags"])
    assert "# qwen-greeter" in text and "QLoRA" in text
    assert 'AutoPeftModelForCausalLM.from_pretrained("someone/qwen-greeter")' in text
    assert "| learning rate | 0.005 |" in text and "| quantization | 4-bit NF4 (bitsandbytes) |" in text
    assert "| final training loss | 1.25 |" in text and "| final validation loss | 1.5 |" in text
    assert "| ROUGE-L | 0.05 | 0.85 | 0.8 |" in text
    assert "| Perplexity | 900 | 20 | 880 |" in text  # lower is better: the improvement is base minus fine-tuned
    assert "```yaml\nname: qwen-qlora" in text
    # The card is public: no folder of this machine appears in it.
    assert run.output_dir and str(Path(run.output_dir).parent) not in text


@pytest.mark.integration  # the real CLI, in a child process
def test_dry_run_lists_the_files_and_the_card_and_uploads_nothing(adapter_template: Path) -> None:
    run = finished_run(adapter_template, name="greeter")

    result = cli("upload", "greeter", "me/greeter", "--dry-run", "--json")

    assert result.returncode == 0, result.stderr
    document = read_result(UploadResult, json.loads(result.stdout), "upload")  # the type the app reads
    assert document.repo_id == "me/greeter" and document.dry_run is True and document.kind == "adapter"
    assert {"README.md", "adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(document.files)
    assert document.card.startswith("---\n") and "library_name: peft" in document.card
    assert document.url is None
    assert not [a for a in open_store().artifacts(run.id) if a.kind == "upload"]

    human = cli("upload", "greeter", "me/greeter", "--dry-run")
    assert human.returncode == 0, human.stderr
    assert "adapter_model.safetensors" in human.stdout and "library_name: peft" in human.stdout


def test_dry_run_with_merge_lists_a_standalone_model(adapter_template: Path) -> None:
    run = finished_run(adapter_template, name="to-merge", evaluated=False)

    result = upload("to-merge", "me/merged", merge_adapter=True, dry_run=True)

    assert result.kind == "merged"
    assert {"config.json", "model.safetensors", "README.md"} <= set(result.files)
    assert not any(name.startswith("adapter_") for name in result.files)
    assert "library_name: transformers" in result.card and "- merged" in result.card
    assert "## Evaluation" not in result.card  # never evaluated: no scores to show
    assert any(a.kind == "merged" for a in open_store().artifacts(run.id))


@pytest.mark.integration  # the real CLI, in a child process
def test_without_a_token_the_error_says_how_to_log_in(adapter_template: Path) -> None:
    finished_run(adapter_template, name="no-token")
    assert_one_line_error(
        cli("upload", "no-token", "me/no-token"), "No Hugging Face token", "hf auth login", "HF_TOKEN", "--token"
    )


@pytest.mark.integration  # the real CLI, in a child process
def test_an_offline_upload_fails_in_one_line_and_the_token_is_written_nowhere(
    adapter_template: Path, tuitune_home: Path
) -> None:
    run = finished_run(adapter_template, name="offline")

    result = cli("upload", "offline", "me/offline", "--token", SECRET, "--private", "--message", "first")

    assert_one_line_error(result, "offline mode", "HF_HUB_OFFLINE")
    assert SECRET not in result.stderr and SECRET not in result.stdout
    assert not [a for a in open_store().artifacts(run.id) if a.kind == "upload"]
    # Not in the store (database, WAL and shared memory files), not in the run folder, nowhere.
    written = [path for path in tuitune_home.rglob("*") if path.is_file() and not path.is_symlink()]
    assert any(path.name.startswith("tuitune.db") for path in written)
    assert not [path for path in written if SECRET.encode() in path.read_bytes()]


@pytest.fixture
def refusing_hub() -> Iterator[str]:
    """A local server that answers every Hub request with 401, as the Hub does for a bad token."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def refuse(self) -> None:
            body = b'{"error": "Invalid credentials in Authorization header"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = refuse

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration  # the real CLI, in a child process
def test_a_refused_push_or_an_unreachable_hub_is_one_line_saying_what_to_do(
    adapter_template: Path, refusing_hub: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished_run(adapter_template, name="refused")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", SECRET)  # the token from the environment

    refused = cli("upload", "refused", "me/refused", env={"HF_ENDPOINT": refusing_hub})
    assert_one_line_error(refused, "refused the token (401)", "hf auth login")
    assert SECRET not in refused.stderr

    # A port nothing listens on: the server above, once it is gone, is a good one.
    unreachable = cli("upload", "refused", "me/refused", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert_one_line_error(unreachable, "Cannot reach the Hugging Face Hub", "network")


@pytest.mark.integration  # the real CLI, in a child process
def test_upload_refuses_bad_repo_ids_missing_targets_and_unfinished_runs(
    adapter_template: Path, tmp_path: Path
) -> None:
    finished_run(adapter_template, name="fine")
    assert_one_line_error(cli("upload", "fine", "not a repo", "--dry-run"), "not a valid repository id")
    assert_one_line_error(
        cli("upload", str(tmp_path / "nothing-here"), "me/x", "--dry-run"), "neither a folder nor a run"
    )
    store = open_store()
    queued = store.create_run(
        name="queued",
        config=ConfigBuilder().demo().build().to_dict(),
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
    )
    assert_one_line_error(cli("upload", str(queued.id), "me/x", "--dry-run"), "still queued")


def test_an_adapter_folder_given_by_path_uploads_with_what_its_run_knows(adapter_template: Path) -> None:
    run = finished_run(adapter_template, name="by-path")
    assert run.output_dir

    result = upload(Path(run.output_dir), "me/by-path", dry_run=True)  # the run's folder itself

    assert result.run_id == run.id and result.kind == "adapter"
    assert result.folder == str(Path(run.output_dir) / "adapter")
    assert "| ROUGE-L | 0.05 | 0.85 |" in result.card


def test_a_document_not_of_its_declared_type_is_one_clear_line() -> None:
    from tuitune.runs.results import MergeResult, UnexpectedResultError

    with pytest.raises(UnexpectedResultError) as refused:
        read_result(MergeResult, {"output": "/somewhere"}, "merge")
    message = str(refused.value)
    assert "\n" not in message and "`tuitune merge --json`" in message and "run_id" in message
