"""The dashboard's comparison, sweep and queue API against a real `tuitune serve`: runs side by side
as `tuitune compare --json` prints them, sweeps ranked as `tuitune sweep show --json` ranks them,
the queue reordered and its slots set through the run service, the runs list sorted and filtered
by the history's columns; and each refusal in the core's words.

The compared runs are the sample afternoon (rows written as a worker writes them, nothing trains);
the sweep's runs wait in a paused queue and are cancelled at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import cli_json, running_server
from tuitune.client import Client, ClientError
from tuitune.config import ConfigBuilder
from tuitune.errors import RunNotFoundError
from tuitune.store import COMPLETED, QUEUED, Run, open_store

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Served:
    url: str
    client: Client
    home: Path
    afternoon: list[Run]  # the sample runs, oldest first
    sweep_id: int
    sweep_runs: list[int]  # in the queue's order


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from tuitune._dev.sample_runs import populate
    from tuitune.engine import queue
    from tuitune.engine.sweep import plan_sweep, queue_sweep

    home = tmp_path_factory.mktemp("compare-home")
    before = os.environ.get("TUITUNE_HOME")
    os.environ["TUITUNE_HOME"] = str(home)  # the per-test home is not set up for a module's fixture
    try:
        store = open_store()
        afternoon = populate(store)
        queue.pause(store)  # the sweep's runs wait: nothing trains in this module
        base = ConfigBuilder().demo().build().to_dict()
        plan = plan_sweep(base, ["training.learning_rate=1e-4,2e-4,5e-4"], max_runs=8)
        sweep, runs = queue_sweep(plan, base=base, store=store)
        # Two of them "finished" with an eval loss each: the middle one best.
        for run, eval_loss in zip(runs[:2], (0.9, 0.7)):
            store.update_run(run.id, status=COMPLETED, queue_position=None, best_eval_loss=eval_loss)
        with running_server(home=home) as url, Client(url) as client:
            yield Served(url, client, home, afternoon, sweep.id, [run.id for run in runs])
            for entry in client.queue()["queued"]:
                client.cancel(entry["id"])
    finally:
        if before is None:
            os.environ.pop("TUITUNE_HOME", None)
        else:
            os.environ["TUITUNE_HOME"] = before


def refused(call: object, status: int) -> str:
    with pytest.raises(ClientError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.status == status, caught.value
    return str(caught.value)


def test_compare_answers_what_tuitune_compare_json_prints(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [run.id for run in served.afternoon[:3]]
    answer = served.client.compare(*ids)
    monkeypatch.setenv("TUITUNE_HOME", str(served.home))
    assert answer == cli_json("compare", *map(str, ids))
    assert [summary["run_id"] for summary in answer["runs"]] == ids
    assert set(answer["curves"]) == {str(run_id) for run_id in ids}
    first_curve = answer["curves"][str(ids[0])]
    assert first_curve and {"step", "epoch", "loss", "eval_loss"} <= set(first_curve[0])
    assert answer["differences"]  # the afternoon's runs differ (the rank, the model, …)
    assert "name" not in answer["differences"]


def test_compare_refuses_one_run_too_many_runs_a_repeat_and_a_missing_run(served: Served) -> None:
    def compare(runs: str) -> object:
        return lambda: served.client._call("GET", "/compare", params={"runs": runs})

    first = served.afternoon[0].id
    assert "Compare 2 to 8 runs" in refused(compare(str(first)), 422)
    assert "Compare 2 to 8 runs" in refused(compare(",".join(str(first + n) for n in range(9))), 422)
    assert "named twice" in refused(compare(f"{first},{first}"), 422)
    assert "run ids separated by commas" in refused(compare(f"{first},two"), 422)
    # A missing run: the store's own words, a 404.
    with pytest.raises(RunNotFoundError) as caught:
        open_store(served.home / "tuitune.db").get_run(999_999)
    assert refused(compare(f"{first},999999"), 404) == str(caught.value)


def test_sweeps_are_listed_and_ranked_as_the_command_line_does(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = served.client.sweeps()
    monkeypatch.setenv("TUITUNE_HOME", str(served.home))
    assert listed == cli_json("sweep", "list")
    assert listed[0]["id"] == served.sweep_id and listed[0]["statuses"] == {COMPLETED: 2, QUEUED: 1}

    ranked = served.client.sweep(served.sweep_id, by="eval_loss")
    shown = cli_json("sweep", "show", str(served.sweep_id), "--by", "eval_loss")
    assert {key: ranked[key] for key in shown} == shown
    first, second, third = served.sweep_runs
    assert [run["id"] for run in ranked["runs"]] == [second, first, third]  # 0.7, 0.9, none yet
    assert [run["rank"] for run in ranked["runs"]] == [1, 2, None]
    assert ranked["runs"][0]["settings"] == {"training.learning_rate": 2e-4}
    assert {"key": "rougeL", "lower_is_better": False} in ranked["measures"]

    assert "Rank by one of eval_loss" in refused(
        lambda: served.client._call("GET", f"/sweeps/{served.sweep_id}", params={"by": "nonsense"}), 422
    )
    assert "No sweep with id 424242" in refused(lambda: served.client._call("GET", "/sweeps/424242"), 404)


def test_a_queued_run_moves_and_the_slots_are_set_with_the_engines_limits(served: Served) -> None:
    client = served.client
    waiting = [entry["id"] for entry in client.queue()["queued"]]
    assert served.sweep_runs[2] in waiting
    # Two more runs wait behind the sweep's: then the last goes to the top.
    extra = [
        client.create_run({"name": f"waiting {n}", "method": "lora", "training": {"max_steps": 2}})["id"]
        for n in range(2)
    ]
    moved = client.move(extra[-1], 1)
    assert moved == {"id": extra[-1], "position": 1}
    assert [entry["id"] for entry in client.queue()["queued"]] == [extra[-1], *waiting, extra[0]]
    # Past the end is the end.
    assert client.move(extra[-1], 99)["position"] == len(waiting) + 2

    # Moving a run that does not wait: the core's words, a 409; a place below 1 or a missing run refused.
    done = served.afternoon[0]
    assert f"Run {done.id} ({done.name}) is completed: only a waiting run can be moved" in refused(
        lambda: client._call("POST", f"/queue/{done.id}/move", json={"to": 1}), 409
    )
    refused(lambda: client._call("POST", f"/queue/{extra[0]}/move", json={"to": 0}), 422)
    refused(lambda: client._call("POST", "/queue/999999/move", json={"to": 1}), 404)

    from tuitune.engine.queue import MAX_SLOTS

    assert client.set_slots(3)["slots"] == 3
    assert client.system()["slots"] == 3
    assert client.set_slots(None)["slots"] >= 1  # back to one per GPU
    refused(lambda: client._call("POST", "/queue/slots", json={"count": MAX_SLOTS + 1}), 422)
    refused(lambda: client._call("POST", "/queue/slots", json={"count": 0}), 422)
    assert client.queue()["paused"]  # nothing started: the queue is still paused


def test_the_runs_list_sorts_and_filters_by_the_historys_columns(served: Served) -> None:
    def listed(**params: object) -> dict:
        return served.client._call("GET", "/runs", params={"limit": 100, **params})

    every = listed()
    assert set(every["choices"]) == {"model", "method", "objective"}
    assert "lora" in every["choices"]["method"] and "sft" in every["choices"]["objective"]
    by_loss = listed(sort="loss")["runs"]
    losses = [run["last_loss"] for run in by_loss]
    known = [loss for loss in losses if loss is not None]
    assert known == sorted(known) and losses[: len(known)] == known  # runs without a loss go last
    assert [run["last_loss"] for run in listed(sort="loss", order="desc")["runs"]][: len(known)] == known[::-1]
    durations = [run["duration_seconds"] for run in listed(sort="duration", order="desc")["runs"]]
    timed = [seconds for seconds in durations if seconds is not None]
    assert timed == sorted(timed, reverse=True)

    model = served.afternoon[0].model
    assert {run["model"] for run in listed(model=model)["runs"]} == {model}
    assert {run["method"] for run in listed(method="qlora")["runs"]} <= {"qlora"}
    assert listed(sweep=served.sweep_id)["total"] == 3
    assert listed(objective="dpo")["total"] == 0
    assert "Unknown sort 'colour'" in refused(lambda: listed(sort="colour"), 422)


def test_a_runs_note_and_tags_change_through_the_api_and_the_list_filters_by_them(served: Served) -> None:
    run = served.afternoon[0]
    client = served.client
    assert client.label(run.id, notes="from the api", add_tags=["API", "best"]) == {
        "id": run.id,
        "notes": "from the api",
        "tags": ["api", "best"],
    }
    assert [listed["id"] for listed in client.runs(text="tag:api")] == [run.id]
    assert client.run(run.id)["tags"] == ["api", "best"]
    words = refused(lambda: client.label(run.id, add_tags=["two words"]), 422)
    assert "not one word" in words
    assert client.label(run.id, clear_notes=True, tags=[]) == {"id": run.id, "notes": None, "tags": []}
    assert client.run(run.id)["tags"] == []
