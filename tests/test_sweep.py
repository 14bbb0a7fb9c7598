"""A sweep queues a grid of settings as runs, named after what differs; a bad value queues nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_inprocess import assert_clean_error, run_inprocess
from tests.helpers import assert_one_line_error, cli, cli_json, wait_for
from tuitune.config import ConfigBuilder
from tuitune.engine.sweep import plan_sweep
from tuitune.errors import UsageError
from tuitune.runs.sweep_documents import ListedSweep, SweepPlanDocument, SweepQueued, SweepRanking
from tuitune.store import CANCELLED, open_store


@pytest.mark.integration
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
    assert SweepPlanDocument.model_validate(preview).model_dump(mode="json") == preview
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

    assert SweepQueued.model_validate(queued).model_dump(mode="json") == queued  # the declared document, whole
    ranked = cli_json("sweep", "show", str(queued["sweep_id"]))
    assert SweepRanking.model_validate(ranked).model_dump(mode="json") == ranked
    assert len(ranked["runs"]) == 4 and set(ranked["runs"][0]["settings"]) == {"training.learning_rate", "lora.r"}
    # Nothing trained yet: no value to rank by, so no rank, in the queue's order.
    assert [(run["rank"], run["value"]) for run in ranked["runs"]] == [(None, None)] * 4 and ranked["by"] == "eval_loss"
    assert ranked["sweep"]["grid"] == {"training.learning_rate": ["1e-4", "2e-4"], "lora.r": ["8", "16"]}
    compared = cli_json("compare", "--sweep", str(queued["sweep_id"]))
    assert len(compared["runs"]) == 4
    listed = cli_json("sweep", "list")
    assert listed[0]["statuses"] == {"queued": 4} and listed[0]["id"] == queued["sweep_id"]
    assert ListedSweep.model_validate(listed[0]).model_dump(mode="json") == listed[0]


@pytest.mark.integration
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


@pytest.mark.integration
def test_a_sweep_over_data_that_cannot_be_read_queues_nothing(tuitune_home: Path) -> None:
    missing = tuitune_home / "missing.jsonl"
    result = cli("sweep", "--demo", "-d", str(missing), "--set", "training.learning_rate=1e-4,2e-4")
    assert_one_line_error(result, "missing.jsonl")
    assert open_store().count_runs() == 0 and open_store().list_sweeps() == []


def test_python_train_refuses_data_that_cannot_be_read_before_recording_a_run(tuitune_home: Path) -> None:
    import tuitune
    from tuitune.errors import TuituneError

    config = ConfigBuilder().demo().data(source=str(tuitune_home / "missing.jsonl")).training(max_steps=2).build()
    with pytest.raises(TuituneError, match="missing.jsonl"):
        tuitune.train(config)
    assert open_store().count_runs() == 0


@pytest.mark.integration
def test_a_grid_larger_than_max_runs_is_refused(tuitune_home: Path) -> None:
    result = cli("sweep", "--demo", "--set", "training.seed=1,2,3,4,5", "--set", "lora.r=4,8,16", "--max-runs", "10")
    assert result.returncode == 2 and "15 runs, more than --max-runs 10" in result.stderr
    assert open_store().count_runs() == 0


@pytest.mark.integration
def test_train_queue_waits_in_line_and_says_where(tuitune_home: Path) -> None:
    assert cli("queue", "pause").returncode == 0
    first = cli_json("train", "--demo", "--queue")
    second = cli("train", "--demo", "--queue")
    assert first["in_queue"] and first["queue_place"] == 1
    assert "number 2 of 2 in line" in second.stdout
    assert [run["queue_place"] for run in cli_json("runs")] == [2, 1]


@pytest.mark.parametrize("max_runs", ["0", "-1"])
def test_max_runs_below_one_is_refused(tuitune_home: Path, max_runs: str) -> None:
    result = run_inprocess("sweep", "--demo", "--set", "lora.r=8,16", "--max-runs", max_runs)
    assert_clean_error(result, "--max-runs", code=2)
    with pytest.raises(UsageError, match="at least 1"):
        plan_sweep(ConfigBuilder().demo().build().to_dict(), ["lora.r=8"], max_runs=int(max_runs))
    assert open_store().count_runs() == 0


@pytest.mark.parametrize(
    "values, named",
    [("1e-4,1e-4", "lists 1e-4 twice"), ("1e-4,2e-4,0.0001", "1e-4 and 0.0001 are the same value")],
)
def test_the_same_value_twice_in_one_set_queues_nothing_and_names_it(
    tuitune_home: Path, values: str, named: str
) -> None:
    result = run_inprocess("sweep", "--demo", "--set", "lora.r=8,16", "--set", f"training.learning_rate={values}")
    assert_clean_error(result, "training.learning_rate", named, code=2)
    assert open_store().count_runs() == 0


def test_a_value_with_a_newline_is_refused_in_one_line(tuitune_home: Path) -> None:
    result = run_inprocess("sweep", "--demo", "--set", "model.name_or_path=tuitune/demo,a\nb", "--dry-run")
    assert_clean_error(result, "model.name_or_path", "newline", code=2)
    assert open_store().count_runs() == 0


@pytest.mark.parametrize("sweep_id", [str(2**63), str(-(2**63) - 1)])
def test_a_sweep_id_past_sqlites_integers_is_no_sweep_not_a_traceback(tuitune_home: Path, sweep_id: str) -> None:
    for command in (["runs", "--sweep"], ["compare", "--sweep"], ["sweep", "show", "--"], ["cancel", "--sweep"]):
        assert_clean_error(run_inprocess(*command, sweep_id), f"No sweep with id {sweep_id}")


@pytest.mark.integration
def test_cancel_sweep_empties_its_part_of_the_queue_and_cancel_queued_the_rest(tuitune_home: Path) -> None:
    assert cli("queue", "pause").returncode == 0  # queue only: this test trains nothing
    sweep = cli_json("sweep", "--demo", "--set", "training.learning_rate=1e-4,2e-4,5e-4")
    other = cli_json("train", "--demo", "--queue")

    cancelled = cli_json("cancel", "--sweep", str(sweep["sweep_id"]))
    assert cancelled["sweep_id"] == sweep["sweep_id"]
    assert [(run["run_id"], run["status"], run["was_queued"]) for run in cancelled["cancelled"]] == [
        (run["id"], CANCELLED, True) for run in sweep["runs"]
    ]
    assert [entry["id"] for entry in cli_json("queue")["queued"]] == [other["run_id"]]
    again = run_inprocess("cancel", "--sweep", str(sweep["sweep_id"]))
    assert again.returncode == 0 and "has no queued or running runs" in again.stdout

    assert [run["run_id"] for run in cli_json("cancel", "--queued")["cancelled"]] == [other["run_id"]]
    assert cli_json("queue")["queued"] == []
    assert {run.status for run in open_store().list_runs()} == {CANCELLED}
    assert_clean_error(run_inprocess("cancel"), "RUN, --sweep N or --queued", code=2)
    assert_clean_error(run_inprocess("cancel", "last", "--queued"), "RUN, --sweep N or --queued", code=2)


@pytest.mark.slow
def test_cancel_sweep_stops_its_running_run_and_starts_none_of_its_waiting_ones(
    tuitune_home: Path, demo_model_path: Path
) -> None:
    assert cli("queue", "--slots", "1").returncode == 0
    sweep = cli_json(
        "sweep", "--demo", "--max-steps", "100000", "--max-length", "64", "--set", "training.learning_rate=1e-4,2e-4"
    )
    first, second = (run["id"] for run in sweep["runs"])
    store = open_store()
    wait_for(lambda: store.metric_points(first), what="the sweep's first run to train")

    cancelled = cli_json("cancel", "--sweep", str(sweep["sweep_id"]), "--wait")
    outcome = {run["run_id"]: (run["status"], run["was_queued"]) for run in cancelled["cancelled"]}
    assert outcome == {first: (CANCELLED, False), second: (CANCELLED, True)}
    assert store.get_run(second).started_at is None  # the slot the first one freed was not given to it


def test_a_sweep_over_a_setting_the_method_ignores_is_refused_or_its_repeats_dropped(tuitune_home: Path) -> None:
    # The demo trains the whole model: lora.r means nothing there, so r=4 and r=8 are one run.
    grid = ["--set", "training.learning_rate=1e-4,5e-4", "--set", "lora.r=4,8"]
    refused = run_inprocess("sweep", "--demo", *grid)
    assert_clean_error(refused, "--set lora.r changes nothing for method full_finetuning", "--drop-unused", code=2)
    assert open_store().count_runs() == 0
    dropped = json.loads(run_inprocess("sweep", "--demo", *grid, "--drop-unused", "--dry-run", "--json").stdout)
    assert [run["name"] for run in dropped["runs"]] == ["lr=1e-4,r=4", "lr=5e-4,r=4"]
    assert dropped["dropped"] == ["lr=1e-4,r=8", "lr=5e-4,r=8"]
    # Where the method uses it, it is a real axis; varying the method with it keeps what differs.
    lora = run_inprocess("sweep", "--demo", "--method", "lora", *grid, "--dry-run", "--json")
    assert len(json.loads(lora.stdout)["runs"]) == 4
    mixed = plan_sweep(
        ConfigBuilder().demo().build().to_dict(), ["method=lora,full_finetuning", "lora.r=4,8"], drop_unused=True
    )
    assert mixed.labels == ["method=lora,r=4", "method=lora,r=8", "method=full_finetuning,r=4"]


def test_a_config_that_sets_lora_for_full_fine_tuning_is_warned_about(tuitune_home: Path) -> None:
    from tuitune.config import parse_config

    config = parse_config({"method": "full_finetuning", "lora": {"r": 16, "alpha": 32}})
    assert config.notes == ["method full_finetuning does not use the lora settings: lora.r, lora.alpha change nothing."]
    assert parse_config({"method": "full_finetuning"}).notes == []
    assert parse_config({"method": "lora", "lora": {"r": 16}}).notes == []
