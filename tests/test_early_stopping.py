"""A run whose evaluations stop improving stops early, ends completed, keeps its best checkpoint and
says which; resuming it asks for a larger total."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tuitune
from tests.helpers import assert_one_line_error, cli, cli_json
from tuitune.config import ConfigBuilder, parse_config
from tuitune.errors import IncompatibleConfigError, RunStateError, TuituneError
from tuitune.runs.early_stop import early_stop
from tuitune.store import COMPLETED, open_store

MAX_STEPS = 20


def stalling(**training: object) -> ConfigBuilder:
    """A run whose eval loss cannot improve by the threshold: its learning rate barely moves the weights."""
    settings: dict[str, object] = {
        "max_steps": MAX_STEPS,
        "batch_size": 2,
        "logging_steps": 1,
        "eval_steps": 2,
        "save_steps": 100,
        "learning_rate": 1e-9,
        "early_stopping_patience": 2,
        "early_stopping_threshold": 0.01,
    }
    settings.update(training)
    return ConfigBuilder().demo().data(max_length=64, max_samples=24, validation_split=4).training(**settings)


# --- the configuration ---------------------------------------------------------------------


def test_early_stopping_is_off_by_default_and_watches_the_eval_loss() -> None:
    training = ConfigBuilder().demo().build().training
    assert training.early_stopping_patience is None
    assert training.early_stopping_metric == "eval_loss" and training.early_stopping_threshold == 0.0


def test_a_bare_metric_name_means_the_evaluation_one() -> None:
    config = parse_config({"training": {"early_stopping_patience": 3, "early_stopping_metric": "rewards/accuracies"}})
    assert config.training.early_stopping_metric == "eval_rewards/accuracies"


@pytest.mark.parametrize(
    "training, data, words",
    [
        ({"early_stopping_patience": 0}, {}, "training.early_stopping_patience"),
        ({"early_stopping_patience": 10**6}, {}, "training.early_stopping_patience"),
        ({"early_stopping_patience": 2, "early_stopping_threshold": -0.1}, {}, "training.early_stopping_threshold"),
        ({"early_stopping_patience": 2, "early_stopping_metric": "eval loss"}, {}, "no spaces"),
        ({"early_stopping_patience": 2}, {"validation_split": 0}, "set data.validation_split"),
    ],
)
def test_early_stopping_settings_that_cannot_work_are_refused_in_words(
    training: dict[str, object], data: dict[str, object], words: str
) -> None:
    with pytest.raises(TuituneError, match=words):
        parse_config({"training": training, "data": data})


def test_its_settings_without_patience_are_said_to_change_nothing() -> None:
    config = parse_config({"training": {"early_stopping_threshold": 0.5}})
    assert any("training.early_stopping_threshold change nothing" in note for note in config.notes)


# --- the trainer's arguments -------------------------------------------------------------


def test_patience_evaluates_saves_at_every_evaluation_and_loads_the_best(tmp_path: Path) -> None:
    from tuitune.engine.arguments import training_arguments

    config = stalling(eval_steps=3, save_steps=100, save_total_limit=1).build()
    arguments = training_arguments(config, tmp_path, has_validation=True)
    assert arguments.load_best_model_at_end is True
    assert arguments.eval_strategy == "steps" and arguments.save_strategy == "steps"
    assert arguments.eval_steps == 3 and arguments.save_steps == 3  # the best one is on disk to load
    assert arguments.metric_for_best_model == "eval_loss" and arguments.greater_is_better is False

    # A score (not a loss) is better higher.
    accuracy = stalling(early_stopping_metric="rewards/accuracies").build()
    assert training_arguments(accuracy, tmp_path, has_validation=True).greater_is_better is True

    # Without patience the run saves on its own schedule and keeps its last weights.
    plain = stalling(early_stopping_patience=None).build()
    arguments = training_arguments(plain, tmp_path, has_validation=True)
    assert arguments.load_best_model_at_end is False and arguments.save_steps == 100


def test_patience_with_no_sample_held_out_is_refused_before_training(tmp_path: Path) -> None:
    from tuitune.engine.arguments import training_arguments

    with pytest.raises(IncompatibleConfigError, match="held no sample out"):
        training_arguments(stalling().build(), tmp_path, has_validation=False)


# --- a run -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_that_stops_improving_stops_early_completed_with_its_best_checkpoint(demo_model_path: Path) -> None:
    result = tuitune.train(stalling().name("stalls").build())

    assert result.status == COMPLETED
    assert 0 < result.steps_completed < MAX_STEPS
    store = open_store()
    run = store.get_run(result.run_id)
    assert run.status == COMPLETED and run.steps_done == result.steps_completed and run.steps_total == MAX_STEPS

    # Why it stopped, in the run's events, naming the checkpoint its adapter was saved from.
    stopped = early_stop(store.artifacts(run.id))
    assert stopped is not None and stopped["step"] == result.steps_completed
    best = stopped["best_checkpoint"]
    assert best and best.startswith("checkpoint-")
    messages = [event.message for event in store.events(run.id)]
    stop_event = next(m for m in messages if m.startswith(f"stopped early at step {result.steps_completed}"))
    assert "eval_loss did not improve by more than 0.01 for 2 evaluation(s)" in stop_event
    assert f"the saved adapter is the best checkpoint's ({best})" in stop_event
    assert any(m.startswith("early stopping: after 2 evaluation(s)") for m in messages)

    # The best checkpoint is still on disk (rotation keeps it) and is the one the run names.
    folder = Path(result.output_dir) / "checkpoints" / best
    assert (folder / "adapter_model.safetensors").exists()
    best_artifact = next(a for a in store.artifacts(run.id) if a.meta.get("best"))
    assert Path(best_artifact.path) == folder and not best_artifact.gone
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["best_global_step"] == stopped["best_step"] == int(best.removeprefix("checkpoint-"))

    # The saved adapter holds the best checkpoint's weights.
    from safetensors.torch import load_file

    saved = load_file(str(Path(result.output_dir) / "adapter" / "adapter_model.safetensors"))
    kept = load_file(str(folder / "adapter_model.safetensors"))
    assert saved.keys() == kept.keys()
    assert all(saved[name].equal(kept[name]) for name in saved)

    # `tuitune show` says it, and its --json carries it on the best checkpoint.
    shown = cli("show", str(run.id))
    assert shown.returncode == 0, shown.stderr
    assert f"stopped early at step {result.steps_completed} (best: {best})" in shown.stdout
    report = cli_json("show", str(run.id))
    assert any(a["meta"].get("early_stop", {}).get("best_checkpoint") == best for a in report["artifacts"])

    # The app's detail screen says it in the run's overview.
    from rich.console import Console

    from tuitune.tui.screens.detail import overview

    console = Console(width=160, record=True)
    console.print(overview(run, [], early_stop(store.artifacts(run.id))))
    assert f"stopped early at step {result.steps_completed} (best: {best})" in console.export_text()

    # Resuming it asks for a larger total than the one it stopped short of, and leaves it as it was.
    for flags in ([], ["--max-steps", str(MAX_STEPS)], ["--max-steps", str(result.steps_completed + 2)]):
        refused = cli("resume", str(run.id), *flags)
        assert_one_line_error(refused, code=1)
        assert f"--max-steps above {MAX_STEPS}" in refused.stderr, refused.stderr
        assert store.get_run(run.id) == run
    with pytest.raises(RunStateError, match="stopped early"):
        from tuitune.engine import resume

        resume.prepare(run, max_steps=MAX_STEPS, store=store)
    assert store.get_run(run.id) == run


@pytest.mark.integration
@pytest.mark.slow
def test_an_early_stopped_run_resumed_with_a_larger_total_has_its_patience_afresh(demo_model_path: Path) -> None:
    first = tuitune.train(stalling(max_steps=8).build())
    assert first.status == COMPLETED and first.steps_completed == 6  # evaluations at 2, 4 and 6

    resumed = cli_json("resume", str(first.run_id), "--max-steps", "30")
    assert resumed["status"] == COMPLETED
    # A fresh patience: two more evaluations without improvement (at 8 and 10), not one.
    assert resumed["steps_completed"] == 10
    stopped = early_stop(open_store().artifacts(first.run_id))
    assert stopped is not None and stopped["step"] == 10
