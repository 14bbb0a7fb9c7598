"""A sweep queues a grid of settings as runs, named after what differs; a bad value queues nothing."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import cli, cli_json
from tuitune.store import open_store


def test_a_two_by_two_sweep_queues_four_runs_with_their_settings(tuitune_home: Path) -> None:
    assert cli("queue", "pause").returncode == 0  # queue only: this test trains nothing
    preview = cli_json(
        "sweep",
        "--demo",
        "--method",
        "lora",
        "--set",
        "training.learning_rate=1e-4,2e-4",
        "--set",
        "lora.r=8,16",
        "--dry-run",
    )
    assert [run["name"] for run in preview["runs"]] == ["lr=1e-4,r=8", "lr=1e-4,r=16", "lr=2e-4,r=8", "lr=2e-4,r=16"]
    assert open_store().count_runs() == 0

    queued = cli_json(
        "sweep",
        "--demo",
        "--method",
        "lora",
        "--max-steps",
        "5",
        "--set",
        "training.learning_rate=1e-4,2e-4",
        "--set",
        "lora.r=8,16",
    )
    store = open_store()
    runs = {run.name: run for run in store.list_runs(sweep_id=queued["sweep_id"])}
    assert set(runs) == {"lr=1e-4,r=8", "lr=1e-4,r=16", "lr=2e-4,r=8", "lr=2e-4,r=16"}
    for name, run in runs.items():
        lr, r = (part.split("=")[1] for part in name.split(","))
        assert run.config["training"]["learning_rate"] == float(lr)
        assert run.config["lora"]["r"] == int(r)
        assert run.config["training"]["max_steps"] == 5 and run.method == "lora"
        assert run.in_queue
    assert [entry["name"] for entry in cli_json("queue")["queued"]] == [run["name"] for run in queued["runs"]]

    ranked = cli_json("sweep", "show", str(queued["sweep_id"]))
    assert len(ranked["runs"]) == 4 and set(ranked["runs"][0]["settings"]) == {"training.learning_rate", "lora.r"}
    compared = cli_json("compare", "--sweep", str(queued["sweep_id"]))
    assert len(compared["runs"]) == 4
    assert cli_json("sweep", "list")[0]["statuses"] == {"queued": 4}


def test_a_bad_value_in_the_grid_queues_nothing_and_names_the_combination(tuitune_home: Path) -> None:
    result = cli("sweep", "--demo", "--set", "training.learning_rate=1e-4,-1", "--set", "lora.r=8,16")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[:2] == [
        "invalid: lr=-1,r=8: training.learning_rate in sweep run lr=-1,r=8: Input should be greater than 0 (got -1).",
        "invalid: lr=-1,r=16: training.learning_rate in sweep run lr=-1,r=16: Input should be greater than 0 (got -1).",
    ]
    assert "2 of 4 combinations are invalid, so nothing was queued" in lines[-1]
    assert open_store().count_runs() == 0


def test_a_grid_larger_than_max_runs_is_refused(tuitune_home: Path) -> None:
    result = cli("sweep", "--demo", "--set", "training.seed=1,2,3,4,5", "--set", "lora.r=4,8,16", "--max-runs", "10")
    assert result.returncode == 2 and "15 runs, more than --max-runs 10" in result.stderr
    assert open_store().count_runs() == 0


def test_train_queue_waits_in_line_and_says_where(tuitune_home: Path) -> None:
    assert cli("queue", "pause").returncode == 0
    first = cli_json("train", "--demo", "--queue")
    second = cli("train", "--demo", "--queue")
    assert first["in_queue"] and first["queue_place"] == 1
    assert "number 2 of 2 in line" in second.stdout
    assert [run["queue_place"] for run in cli_json("runs")] == [2, 1]
