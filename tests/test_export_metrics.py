"""`tuitune export-metrics` writes a past run's curves from the store for TensorBoard and for a
spreadsheet, and both read back as the store holds them: the greeter (a real trained run, shared by
the suite) exported with the CLI; and in this process, a run's default folder, an export done
twice, and the refusals in words."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli
from tests.trained_runs import Trained
from tuitune.config import ConfigBuilder
from tuitune.errors import ExportError
from tuitune.runs.files import folder_of
from tuitune.runs.metrics_export import EVENT_SUFFIX, export_metrics, point_values, tensorboard_tag
from tuitune.store import COMPLETED, Store, open_store


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(s.step, s.value) for s in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.integration
def test_a_trained_runs_curves_export_to_csv_and_tensorboard_and_read_back(
    greeter_home: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUITUNE_HOME", str(greeter_home.home))
    points = open_store().metric_points(greeter_home.run_id)
    trained = [(p.step, p.loss) for p in points if p.loss is not None]
    evaluated = [(p.step, p.eval_loss) for p in points if p.eval_loss is not None]
    assert len(trained) >= 2 and evaluated  # the greeter logs every 5 steps and evaluates

    table = tmp_path / "greeter.csv"
    written = json.loads(
        cli("export-metrics", str(greeter_home.run_id), "--to", "csv", "--output", str(table), "--json").stdout
    )
    assert written["path"] == str(table) and written["points"] == len(points)
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert written["steps"] == len(rows) == len({p.step for p in points})
    assert [(int(r["step"]), float(r["loss"])) for r in rows if r["loss"]] == trained
    assert [(int(r["step"]), float(r["eval_loss"])) for r in rows if r["eval_loss"]] == evaluated
    assert {"loss", "eval_loss", "learning_rate", "grad_norm"} <= set(written["metrics"])

    folder = tmp_path / "tb"
    shown = cli("export-metrics", str(greeter_home.run_id), "--to", "tensorboard", "-o", str(folder), check=True)
    assert f"tensorboard --logdir {folder}" in shown.stdout
    scalars = tensorboard_scalars(folder)
    assert [(step, pytest.approx(loss)) for step, loss in scalars["train/loss"]] == trained
    assert [(step, pytest.approx(loss)) for step, loss in scalars["eval/loss"]] == evaluated
    assert "train/learning_rate" in scalars and "train/epoch" in scalars


def recorded_run(store: Store) -> int:
    """A run as a worker leaves it in the store: two logging steps, an evaluation at the second."""
    config = ConfigBuilder().demo().name("recorded").build()
    run = store.create_run(name="recorded", config=config.to_dict(), model="tuitune/demo", method="lora", dataset="d")
    store.add_metric_points(
        run.id,
        [
            {"step": 1, "epoch": 0.5, "loss": 2.0, "learning_rate": 1e-4, "extra": {"rewards/margins": 0.1}},
            {"step": 2, "epoch": 1.0, "loss": 1.5, "learning_rate": 5e-5, "extra": {"rewards/margins": 0.3}},
            {"step": 2, "epoch": 1.0, "eval_loss": 1.75, "extra": {"eval_rewards/margins": 0.2}},
        ],
    )
    store.set_status(run.id, COMPLETED)
    return run.id


def test_an_export_goes_into_the_run_folder_and_again_replaces_itself() -> None:
    store = open_store()
    run = store.get_run(recorded_run(store))
    written = export_metrics(run, store, "csv")
    table = Path(written["path"])
    assert table.parent.parent == folder_of(run) and table.name == "metrics.csv"
    with table.open(newline="") as handle:
        rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    assert rows == [
        {"step": "1", "epoch": "0.5", "time": rows[0]["time"], "loss": "2.0", "eval_loss": "", "learning_rate": "0.0001",
         "eval_rewards/margins": "", "rewards/margins": "0.1"},
        {"step": "2", "epoch": "1.0", "time": rows[1]["time"], "loss": "1.5", "eval_loss": "1.75",
         "learning_rate": "5e-05", "eval_rewards/margins": "0.2", "rewards/margins": "0.3"},
    ]  # fmt: skip

    first = export_metrics(run, store, "tensorboard")
    again = export_metrics(run, store, "tensorboard")
    folder = Path(again["path"])
    assert first["path"] == again["path"] and folder == folder_of(run) / "exported" / "tensorboard"
    assert len(list(folder.glob(f"*{EVENT_SUFFIX}"))) == 1  # replaced, not doubled
    scalars = tensorboard_scalars(folder)
    assert scalars["train/loss"] == [(1, 2.0), (2, 1.5)] and scalars["eval/loss"] == [(2, 1.75)]
    assert [v for _, v in scalars["train/rewards/margins"]] == pytest.approx([0.1, 0.3])
    assert [v for _, v in scalars["eval/rewards/margins"]] == pytest.approx([0.2])


def test_nothing_to_export_and_an_unknown_format_are_refused_in_words() -> None:
    store = open_store()
    config = ConfigBuilder().demo().build()
    empty = store.create_run(name="empty", config=config.to_dict(), model="tuitune/demo", method="lora", dataset="d")
    with pytest.raises(ExportError, match="no metric points yet"):
        export_metrics(empty, store, "csv")
    run = store.get_run(recorded_run(store))
    with pytest.raises(ExportError, match="use --to tensorboard or --to csv"):
        export_metrics(run, store, "xls")


def test_names_match_what_the_live_tensorboard_integration_writes() -> None:
    assert tensorboard_tag("loss") == "train/loss" and tensorboard_tag("eval_loss") == "eval/loss"
    assert tensorboard_tag("eval_rewards/margins") == "eval/rewards/margins"
    store = open_store()
    (point, *_) = store.metric_points(recorded_run(store))
    assert point_values(point) == {"loss": 2.0, "learning_rate": 1e-4, "rewards/margins": 0.1}
