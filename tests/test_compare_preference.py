"""A user trains two DPO runs that differ in beta and looks at them from every face: the
comparison (its document, the CLI's table, the app's charts) puts their reward margin and accuracy
beside the loss, `tuitune show` and the service name the objective and its key values, and the
history says `lora · dpo`. Compared with a supervised run, the key curves say they are the DPO
runs' only.

The pair trains for real on the demo model with the bundled preference sample (four steps each,
an evaluation at the last), once for the module; the supervised run trains two steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Static, TabbedContent

import tuitune
from tests.cli_inprocess import run_inprocess
from tests.helpers import cli_json, running_server
from tests.trained_runs import home_env, new_home
from tests.tui_steps import compare_runs as compare_in_the_app
from tuitune._dev.pilot import screen_text, wait_until
from tuitune.bundled import SAMPLE_PREFERENCE
from tuitune.client import Client
from tuitune.config import ConfigBuilder
from tuitune.runs import metrics
from tuitune.runs.compare import compare_runs
from tuitune.store import COMPLETED, MetricPoint, Run, Store, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.history import HistoryScreen, history_row
from tuitune.tui.widgets.charts import LineChart

pytestmark = pytest.mark.integration  # trains, serves on a port

MARGIN, ACCURACY = metrics.REWARD_MARGIN, metrics.REWARD_ACCURACY
STEPS = 4


@dataclass(frozen=True)
class Pair:
    """A TUITUNE_HOME holding two completed DPO runs (beta 0.1 and 0.5) and a short sft run."""

    home: Path
    low: int  # beta 0.1
    high: int  # beta 0.5
    sft: int


def dpo(name: str, beta: float) -> ConfigBuilder:
    return (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("lora")
        .objective("dpo", beta=beta)
        .data(SAMPLE_PREFERENCE, max_samples=40, validation_split=8)
        .training(max_steps=STEPS, batch_size=4, logging_steps=1, eval_steps=STEPS, save_steps=1000)
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Pair:
    home = new_home(tmp_path_factory, shared_models_dir, "dpo-pair")
    with home_env(home):
        low = tuitune.train(dpo("dpo-beta-0.1", 0.1).build())
        high = tuitune.train(dpo("dpo-beta-0.5", 0.5).build())
        sft = tuitune.train(
            ConfigBuilder()
            .demo()
            .name("sft-baseline")
            .data(max_length=64, max_samples=40)
            .training(max_steps=2, batch_size=4, logging_steps=1, save_steps=1000)
            .build()
        )
    assert low.status == high.status == sft.status == COMPLETED, (low, high, sft)
    return Pair(home, low.run_id, high.run_id, sft.run_id)


@pytest.fixture
def store(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("TUITUNE_HOME", str(pair.home))
    yield open_store()


def trained(store: Store, run_id: int) -> list[MetricPoint]:
    return [point for point in store.metric_points(run_id) if point.loss is not None]


def evaluated(store: Store, run_id: int) -> list[MetricPoint]:
    return [point for point in store.metric_points(run_id) if point.eval_loss is not None]


def runs(store: Store, *ids: int) -> list[Run]:
    return [store.get_run(run_id) for run_id in ids]


def test_two_dpo_runs_compare_on_their_reward_margin_and_accuracy_beside_the_loss(pair: Pair, store: Store) -> None:
    comparison = compare_runs(runs(store, pair.low, pair.high), store)

    assert comparison.differences["preference.beta"] == [0.1, 0.5]
    assert [(c.key, c.label, c.share) for c in comparison.key_curves] == [
        (MARGIN, "reward margin", False),
        (ACCURACY, "reward accuracy", True),
    ]
    assert all(curve.run_ids == [pair.low, pair.high] for curve in comparison.key_curves)
    assert comparison.only_some() == []
    for summary in comparison.runs:
        points = trained(store, summary.run_id)
        assert summary.objective == "dpo" and len(points) == STEPS
        # The summary's last key values are the last logged ones; the curves, every logged one.
        assert summary.key_values == {MARGIN: points[-1].extra[MARGIN], ACCURACY: points[-1].extra[ACCURACY]}
        curve = comparison.curves[summary.run_id]
        assert [p.extra[MARGIN] for p in curve if p.loss is not None] == [p.extra[MARGIN] for p in points]
        evaluated = [p for p in curve if p.eval_loss is not None]
        assert [p.step for p in evaluated] == [STEPS] and f"eval_{MARGIN}" in evaluated[0].extra
    # beta scales the implicit rewards: the runs' margins differ from their second step on.
    low, high = (comparison.runs[index].key_values[MARGIN] for index in (0, 1))
    assert low != high


def test_compared_with_a_supervised_run_the_key_curves_say_they_are_the_dpo_runs_only(pair: Pair, store: Store) -> None:
    comparison = compare_runs(runs(store, pair.sft, pair.low), store)
    sft, low = comparison.runs
    assert (sft.objective, sft.key_values, low.objective) == ("sft", {}, "dpo")
    assert [curve.run_ids for curve in comparison.only_some()] == [[pair.low], [pair.low]]
    assert comparison.curves[pair.sft] and all(p.extra == {} for p in comparison.curves[pair.sft])

    table = run_inprocess("compare", str(pair.sft), str(pair.low))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    objective = next(line for line in lines if line.startswith("objective"))
    assert objective.split()[1:] == ["sft", "dpo"]
    margin_row = next(line for line in lines if line.startswith("reward margin"))
    assert margin_row.split()[2:] == ["–", f"{low.key_values[MARGIN]:.4g}"]
    assert f"reward accuracy: only #{pair.low} (dpo)" in table.stdout
    assert f"reward margin: only #{pair.low} (dpo)" in table.stdout


def test_the_compare_command_prints_the_objective_and_the_last_key_values(pair: Pair, store: Store) -> None:
    document = run_inprocess("compare", "dpo-beta-0.1", "dpo-beta-0.5", "--json")
    assert document.returncode == 0, document.stderr
    compared = json.loads(document.stdout)
    assert [run["objective"] for run in compared["runs"]] == ["dpo", "dpo"]
    assert [curve["key"] for curve in compared["key_curves"]] == [MARGIN, ACCURACY]
    for run in compared["runs"]:
        last = trained(store, run["run_id"])[-1].extra
        assert run["key_values"] == {MARGIN: last[MARGIN], ACCURACY: last[ACCURACY]}
        stored = [p.extra[ACCURACY] for p in trained(store, run["run_id"])]
        assert [p["extra"][ACCURACY] for p in compared["curves"][str(run["run_id"])] if p["loss"] is not None] == stored

    table = run_inprocess("compare", "dpo-beta-0.1", "dpo-beta-0.5")
    assert table.returncode == 0, table.stderr
    rows = {line.split("  ")[0]: line for line in table.stdout.splitlines() if line and not line.startswith(" ")}
    assert rows["objective"].split()[1:] == ["dpo", "dpo"]
    shown = [f"{trained(store, run_id)[-1].extra[ACCURACY]:.0%}" for run_id in (pair.low, pair.high)]
    assert rows["reward accuracy"].split()[2:] == shown
    assert "preference.beta" in table.stdout and "only #" not in table.stdout


def test_show_and_the_service_name_the_objective_and_its_key_values(pair: Pair, store: Store) -> None:
    last = trained(store, pair.low)[-1].extra
    evaluated = next(p.extra for p in reversed(store.metric_points(pair.low)) if p.eval_loss is not None)
    shown = run_inprocess("show", "dpo-beta-0.1")
    assert shown.returncode == 0, shown.stderr
    lines = [" ".join(line.split()) for line in shown.stdout.splitlines()]
    assert "objective dpo" in lines
    margin = f"reward margin last {last[MARGIN]:.4g}, eval {evaluated['eval_' + MARGIN]:.4g}"
    accuracy = f"reward accuracy last {last[ACCURACY]:.0%}, eval {evaluated['eval_' + ACCURACY]:.0%}"
    assert margin in lines and accuracy in lines, shown.stdout
    assert "reward" not in run_inprocess("show", "sft-baseline").stdout.split("Configuration")[0]

    document = json.loads(run_inprocess("show", "dpo-beta-0.1", "--json").stdout)
    assert document["objective"] == "dpo"
    assert [curve["label"] for curve in document["key_curves"]] == ["reward margin", "reward accuracy"]
    with running_server(home=pair.home) as url, Client(url) as client:
        served = client.run(pair.low)
        assert (served["objective"], served["key_curves"]) == (document["objective"], document["key_curves"])
        listed = {run["id"]: run["objective"] for run in client.runs()}
        assert listed == {pair.low: "dpo", pair.high: "dpo", pair.sft: "sft"}


def test_the_history_and_tuitune_runs_say_lora_dpo_in_the_method_column(pair: Pair, store: Store) -> None:
    run, sft = store.get_run(pair.low), store.get_run(pair.sft)
    assert history_row(run, None).cells[9] == "lora · dpo"
    assert history_row(sft, None).cells[9] == "lora"
    listed = run_inprocess("runs")
    assert listed.returncode == 0, listed.stderr
    methods = {line.split()[1]: line.split()[3:6] for line in listed.stdout.splitlines()[1:]}
    assert methods["dpo-beta-0.1"][:3] == ["lora", "·", "dpo"] and methods["sft-baseline"][0] == "lora"


async def test_the_history_at_80_columns_shows_the_objective(pair: Pair, store: Store) -> None:
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, HistoryScreen) and app.screen.table.total_count == 3,
            what="the runs",
        )
        history = app.screen
        assert isinstance(history, HistoryScreen)
        # At 80 columns the method is a scroll to the right away.
        history.table.scroll_to(x=history.table.max_scroll_x, animate=False)
        await pilot.pause()
        text = screen_text(app)
        assert text.count("lora · dpo") == 2, text
        # Filtering by the objective finds the DPO runs.
        history.table.set_filter("dpo")
        assert history.table.row_count == 2


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_app_compares_the_pair_on_their_key_curves_beside_the_loss(
    pair: Pair, store: Store, size: tuple[int, int]
) -> None:
    pair_runs = runs(store, pair.low, pair.high)
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, HistoryScreen) and app.screen.table.total_count == 3,
            what="the runs",
        )
        compare = await compare_in_the_app(pilot, pair_runs)
        margin = compare.query_one("#key-chart-0", LineChart)
        accuracy = compare.query_one("#key-chart-1", LineChart)
        await wait_until(pilot, lambda: bool(accuracy.series), what="the key charts")
        for chart, key in ((margin, MARGIN), (accuracy, ACCURACY)):
            # Each run's training values as a line, then its evaluation (at the last step) as a dot,
            # both in the run's colour on the loss charts.
            lines = [series for series in chart.series if not series.dots]
            dots = [series for series in chart.series if series.dots]
            assert [list(series.y) for series in lines] == [
                [p.extra[key] for p in trained(store, run.id)] for run in pair_runs
            ]
            assert [list(series.x) for series in lines] == [[1.0, 2.0, 3.0, 4.0]] * 2
            assert [(list(series.x), list(series.y)) for series in dots] == [
                ([float(STEPS)], [evaluated(store, run.id)[-1].extra[f"eval_{key}"]]) for run in pair_runs
            ]
            assert [series.colour for series in chart.series] == [0, 0, 1, 1]
        # The loss charts and the key charts span the same steps.
        assert compare.query_one("#train-chart", LineChart).x_range == margin.x_range == accuracy.x_range
        text = screen_text(app)
        for title in ("train loss", "eval loss", "reward margin", "reward accuracy"):
            assert title in text, text
        legend = str(accuracy.query_one(".chart-legend", Static).render())
        assert f"#{pair.low} dpo-beta-0.1" in legend and f"#{pair.high} dpo-beta-0.5" in legend
        assert legend.endswith("• evaluations") and "eval" not in legend.removesuffix("• evaluations"), legend

        compare.query_one("#compare-tabs", TabbedContent).active = "metrics-pane"
        await pilot.pause()
        text = screen_text(app)
        assert "objective" in text and text.count("dpo") >= 2 and "reward accuracy" in text, text
        last = [f"{trained(store, run.id)[-1].extra[ACCURACY]:.0%}" for run in pair_runs]
        row = next(line for line in text.splitlines() if "reward accuracy" in line)
        assert [cell.strip() for cell in row.split("│")[2:4]] == last, row


async def test_the_app_compares_a_dpo_run_with_a_supervised_one_saying_whose_curves_they_are(
    pair: Pair, store: Store
) -> None:
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, HistoryScreen) and app.screen.table.total_count == 3,
            what="the runs",
        )
        compare = await compare_in_the_app(pilot, runs(store, pair.sft, pair.low))
        margin = compare.query_one("#key-chart-0", LineChart)
        await wait_until(pilot, lambda: bool(margin.series), what="the key charts")
        # The sft run logs none; the dpo run keeps its colour on the loss charts (the second).
        assert [series.key for series in margin.series] == [f"#{pair.low}", f"#{pair.low} eval"]
        assert [series.colour for series in margin.series] == [1, 1]
        legend = str(margin.query_one(".chart-legend", Static).render())
        assert legend.startswith(f"reward margin · only #{pair.low} (dpo)"), legend
        assert len(compare.query_one("#train-chart", LineChart).series) == 2


def test_a_dpo_run_chats_as_an_sft_run_does_beside_its_base(pair: Pair, store: Store) -> None:
    # Its adapter on the base, the base beside it: the objective changes what was learnt, not how it is loaded.
    reply = cli_json("chat", str(pair.low), "--compare", "--prompt", "Say hello.", "-t", "0", "-n", "4", "--no-save")
    assert set(reply["answers"]) == {"finetuned", "base"}
    assert all(answer["tokens"] == 4 or answer["stopped"] == "eos" for answer in reply["answers"].values()), reply
    assert "adapter" in reply["loaded"]["finetuned"]["description"], reply["loaded"]
    assert store.conversations(pair.low) == []  # --no-save
