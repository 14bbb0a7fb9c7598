"""A user evaluates a run after training: it beats its base model on held-out, training-like prompts,
the scores are kept on the run, and the CLI reports them as a table or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli
from tests.trained_runs import Trained
from tuitune.config import ConfigBuilder
from tuitune.data import validation_examples
from tuitune.data.examples import Conversation
from tuitune.errors import RunStateError
from tuitune.evaluation import evaluate_run
from tuitune.runs.files import run_config
from tuitune.runs.results import EvaluationResult, read_result
from tuitune.store import FAILED, QUEUED, Run, open_store

pytestmark = pytest.mark.slow


@pytest.fixture
def run(greeter_home: Trained, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The greeter (trained once for the suite), in this module's own store."""
    monkeypatch.setenv("TUITUNE_HOME", str(greeter_home.home))
    return open_store().get_run(greeter_home.run_id)


def test_fine_tuned_model_beats_its_base_on_held_out_prompts_and_the_scores_are_kept(run: Run) -> None:
    stages: list[str] = []
    report = evaluate_run(run, compare_base=True, progress=lambda stage, done, total: stages.append(stage))

    # Before (base) and after (fine-tuned), on the same held-out prompts.
    assert report.base is not None and report.improvements is not None  # compare_base=True
    assert report.finetuned["rougeL"] > report.base["rougeL"] + 0.3, (report.finetuned, report.base)
    assert report.finetuned["rouge1"] > report.base["rouge1"]
    assert report.finetuned["perplexity"] < report.base["perplexity"]
    assert report.improvements["rougeL"] > 0.3
    assert report.improvements["perplexity"] > 0  # base minus fine-tuned: positive is better
    assert set(report.finetuned) == {"rouge1", "rouge2", "rougeL", "bleu", "perplexity"}
    assert {"generating (fine-tuned)", "generating (base)", "perplexity (fine-tuned)", "perplexity (base)"} <= set(
        stages
    )

    # The prompts are the run's held-out validation examples, recovered from its data settings.
    held_out = validation_examples(run_config(run).data, method=run.method)
    assert report.sample_count == min(8, len(held_out))  # evaluation.samples of the run
    conversations = [example for example in held_out if isinstance(example, Conversation)]
    assert len(conversations) == len(held_out)  # instruction data: every example is a conversation
    references = {example.reference for example in conversations}
    assert all(sample["reference"] in references for sample in report.samples)
    first = report.samples[0]
    assert set(first) == {"prompt", "messages", "reference", "base", "finetuned"}
    assert first["prompt"].endswith("<|im_start|>assistant\n")  # the demo tokenizer's chatml cue
    # And as the user wrote it, without the template's markup: what the app shows as the prompt.
    asked = first["messages"][-1]
    assert asked["role"] == "user" and asked["content"].startswith("Greet ") and "<|im_" not in asked["content"]
    assert asked["content"] in first["prompt"]
    assert first["finetuned"].startswith("Hello")

    # Stored on the run, newest first: the fine-tuned row after the base row.
    store = open_store()
    finetuned, base = store.evaluations(run.id)[:2]
    assert (finetuned.label, base.label) == ("finetuned", "base")
    assert finetuned.id == report.evaluation_ids["finetuned"]
    assert finetuned.metrics == report.finetuned and base.metrics == report.base
    assert finetuned.sample_count == report.sample_count
    assert finetuned.settings["max_new_tokens"] == 24 and finetuned.settings["source"].startswith("validation split")
    assert finetuned.samples == report.samples and len(finetuned.samples) <= 5
    assert store.latest_scores("rougeL")[run.id] == report.finetuned["rougeL"]


def test_eval_command_prints_json_with_base_and_improvements_and_progress_on_stderr(run: Run) -> None:
    result = cli(
        "eval",
        str(run.id),
        "--metrics",
        "rougeL,bleu",
        "--samples",
        "4",
        "--compare-base",
        "--max-new-tokens",
        "16",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = read_result(EvaluationResult, json.loads(result.stdout), "eval")  # the type the app reads
    assert document["run_id"] == run.id
    assert set(document["finetuned"]) == {"rougeL", "bleu"}
    assert set(document["base"]) == {"rougeL", "bleu"}
    assert document["improvements"]["rougeL"] == pytest.approx(
        document["finetuned"]["rougeL"] - document["base"]["rougeL"]
    )
    assert document["sample_count"] == 4 and document["settings"]["max_new_tokens"] == 16
    # Not a terminal: plain progress lines the TUI can read.
    assert "eval: generating (fine-tuned) 4/4" in result.stderr


def test_eval_on_a_dataset_file_scores_its_rows(run: Run, tmp_path: Path) -> None:
    rows = [
        {
            "prompt": "Greet Ada and mention music.",
            "completion": "Hello Ada, it is good to see you. Let us talk about music.",
        },
        {
            "prompt": "Greet Ken and mention books.",
            "completion": "Hello Ken, it is good to see you. Let us talk about books.",
        },
        {
            "prompt": "Greet Alan and mention coffee.",
            "completion": "Hello Alan, it is good to see you. Let us talk about coffee.",
        },
    ]
    data = tmp_path / "extra.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))

    report = evaluate_run(run, dataset=str(data), metrics=["rougeL", "perplexity"], max_new_tokens=8)

    assert report.sample_count == 3
    assert report.settings["source"] == str(data) and report.settings["dataset"] == str(data)
    assert set(report.finetuned) == {"rougeL", "perplexity"} and report.base is None
    assert {sample["reference"] for sample in report.samples} == {row["completion"] for row in rows}
    assert "base" not in report.samples[0]


def test_human_output_is_a_table_with_an_example(run: Run) -> None:
    from typer.testing import CliRunner

    from tuitune.cli import app  # registers every command

    # In this process (the model stack is already imported), as a user at a terminal would see it.
    result = CliRunner().invoke(
        app, ["eval", run.name, "--metrics", "rougeL", "--samples", "2", "--max-new-tokens", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "ROUGE-L" in result.stdout and "fine-tuned" in result.stdout and "reference:" in result.stdout


def test_unknown_metric_is_a_one_line_error() -> None:
    assert_one_line_error(cli("eval", "last", "--metrics", "rougeL,accuracy"), "Unknown metric 'accuracy'", "rouge1")


def test_a_run_without_an_adapter_or_still_running_cannot_be_evaluated() -> None:
    store = open_store()
    config = ConfigBuilder().demo().build().to_dict()
    failed = store.create_run(
        name="broken", config=config, model="tuitune/demo", method="lora", dataset="tuitune/sample"
    )
    store.update_run(failed.id, output_dir=str(Path(store.path).parent / "runs" / "broken"))
    store.set_status(failed.id, FAILED, error="boom")
    assert_one_line_error(cli("eval", "broken"), "has no saved adapter yet", f"tuitune resume {failed.id}")

    queued = store.create_run(
        name="waiting", config=config, model="tuitune/demo", method="lora", dataset="tuitune/sample", status=QUEUED
    )
    with pytest.raises(RunStateError, match="still queued"):
        evaluate_run(store.get_run(queued.id))
