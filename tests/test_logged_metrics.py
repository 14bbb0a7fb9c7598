"""A preference run keeps every metric it logs, every face hands them back, the training screen
draws its key curves, and its watch warns in words when a real run goes wrong.

The DPO run trains for real on the demo model with the bundled preference sample (six steps, an
evaluation at step 5), once for the module; the watch's cases (pairs told apart at once, NaN
weights, a GRPO run with nothing to learn from) train their own few steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TabbedContent

import tuitune
from tests.cli_inprocess import run_inprocess
from tests.helpers import running_server
from tests.trained_runs import Trained, home_env, new_home
from tests.tui_steps import shown
from tuitune._dev.pilot import screen_text, wait_until
from tuitune.bundled import SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.client import Client
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.runs import metrics
from tuitune.runs.feed import RunFeed
from tuitune.store import COMPLETED, RUNNING, Store, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.training import TrainingScreen
from tuitune.tui.widgets.charts import LineChart
from tuitune.tui.widgets.metric_panel import MetricPanel

pytestmark = pytest.mark.integration  # trains, serves on a port

PREFERENCE_KEYS = ("rewards/margins", "rewards/accuracies", "rewards/chosen", "rewards/rejected", "logps/chosen")


def dpo_config(source: str = SAMPLE_PREFERENCE, *, steps: int = 6, **training: Any) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .method("lora")
        .objective("dpo")
        .data(source, max_samples=40, validation_split=8)
        .training(max_steps=steps, batch_size=4, logging_steps=1, eval_steps=5, save_steps=1000, **training)
        .name("dpo-sample")
        .build()
    )


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Trained:
    home = new_home(tmp_path_factory, shared_models_dir, "dpo-run")
    with home_env(home):
        result = tuitune.train(dpo_config())
    assert result.status == COMPLETED, result
    return Trained(home, result.run_id)


@pytest.fixture
def dpo_home(dpo_run: Trained, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("TUITUNE_HOME", str(dpo_run.home))
    yield open_store()


def test_a_dpo_run_keeps_every_metric_it_logs_and_every_face_returns_them(dpo_run: Trained, dpo_home: Store) -> None:
    points = dpo_home.metric_points(dpo_run.run_id)
    trained = [p for p in points if p.loss is not None]
    evaluated = [p for p in points if p.eval_loss is not None]
    assert [p.step for p in trained] == [1, 2, 3, 4, 5, 6] and [p.step for p in evaluated] == [5, 6]
    for point in trained:
        assert all(isinstance(point.extra[key], float) for key in PREFERENCE_KEYS), point.extra
        assert metrics.COLUMN_KEYS.isdisjoint(point.extra)  # the loss, lr… stay in their columns
    for point in evaluated:
        assert all(isinstance(point.extra[f"eval_{key}"], float) for key in PREFERENCE_KEYS), point.extra
    # DPO's first step: the policy is its reference, every pair a tie; then the chosen ones pull ahead.
    assert trained[0].extra["rewards/margins"] == 0.0
    assert (trained[-1].extra["rewards/margins"] or 0.0) > 0 and (trained[-1].extra["rewards/accuracies"] or 0.0) > 0.5

    # The run feed, as every face follows a run.
    followed = RunFeed(dpo_run.run_id, store=dpo_home).next()
    assert [(p.id, p.extra) for p in followed.points] == [(p.id, p.extra) for p in points]

    # tuitune show --json: the last of each, from the last training point and the last evaluation.
    shown_run = run_inprocess("show", str(dpo_run.run_id), "--json")
    assert shown_run.returncode == 0, shown_run.stderr
    latest = json.loads(shown_run.stdout)["metrics"]["latest"]
    assert latest == {**trained[-1].extra, **evaluated[-1].extra}
    assert latest["rewards/margins"] == trained[-1].extra["rewards/margins"]

    # The service: the points, the run's report, and the live stream.
    with running_server(home=dpo_run.home) as url, Client(url) as client:
        served = client.metrics(dpo_run.run_id)
        assert [p["extra"] for p in served] == [p.extra for p in points]
        assert client.run(dpo_run.run_id)["metrics"]["latest"] == latest
        streamed = [data["extra"] for kind, data in client.stream(dpo_run.run_id, timeout=60) if kind == "point"]
        assert streamed == [p.extra for p in points]


async def test_the_training_screen_draws_a_dpo_runs_key_curves_beside_the_loss(
    dpo_run: Trained, dpo_home: Store
) -> None:
    points = dpo_home.metric_points(dpo_run.run_id)
    margins = [p.extra["rewards/margins"] for p in points if "rewards/margins" in p.extra]
    accuracies = [p.extra["rewards/accuracies"] for p in points if "rewards/accuracies" in p.extra]
    evaluation = next(p.extra for p in reversed(points) if p.eval_loss is not None)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(dpo_run.run_id)
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run is not None, what="the run")
        margin, accuracy = training.query_one("#key-0", MetricPanel), training.query_one("#key-1", MetricPanel)
        await wait_until(pilot, lambda: len(accuracy.values) == len(accuracies), what="the key curves")
        assert (margin.border_title, accuracy.border_title) == ("reward margin", "reward accuracy")
        assert margin.values == margins and accuracy.values == accuracies
        text = screen_text(app)
        # At 80x24, beside the loss and with its evaluation: every panel's title and value readable.
        for title in ("train loss", "reward margin", "reward accuracy", "eval loss", "learning rate", "memory"):
            assert title in text, text
        assert f"{margins[-1]:.4g}  eval {evaluation['eval_rewards/margins']:.4g}" in text, text
        assert f"{accuracies[-1]:.0%}  eval {evaluation['eval_rewards/accuracies']:.0%}" in text, text

        # The detail's charts: the same curves, with their evaluations.
        await pilot.press("o")
        detail = await shown(pilot, RunDetailScreen, lambda screen: screen.run is not None, what="the detail")
        detail.query_one("#detail-tabs", TabbedContent).active = "charts"
        chart = detail.query_one("#key-chart", LineChart)
        await wait_until(pilot, lambda: chart.display and chart.series, what="the key chart")
        assert [s.label for s in chart.series] == [
            "reward margin",
            "eval reward margin",
            "reward accuracy",
            "eval reward accuracy",
        ]
        assert list(chart.series[0].y) == margins


async def test_an_sft_run_shows_no_key_curves() -> None:
    store = open_store()
    run = store.create_run(name="sft", config={"objective": "sft"}, model="m", method="lora", dataset="d")
    store.add_metric_points(run.id, [{"step": 1, "loss": 2.0, "extra": {"mean_token_accuracy": 0.1}}])
    store.set_status(run.id, COMPLETED)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_training(run.id)
        training = await shown(pilot, TrainingScreen, lambda screen: screen.run is not None, what="the run")
        await wait_until(pilot, lambda: training.query_one("#loss", MetricPanel).values, what="the loss")
        assert not any(panel.display for panel in training.query(".key-curve"))
        assert "reward" not in screen_text(app)


# --- the watch, on real runs --------------------------------------------------------------------


def train_watched(config: RunConfig, store: Store, output: Path, *, poison: bool = False) -> int:
    """Train `config` in this process with the store's and the watch's callbacks (as the runner
    does), `poison`: with every weight of the base model NaN; returns the run's id."""
    import torch

    from tuitune.engine.arguments import training_arguments
    from tuitune.engine.callbacks import Progress, StoreCallback
    from tuitune.engine.methods import prepare_for_method
    from tuitune.engine.objectives import TrainerParts, build_trainer
    from tuitune.engine.preflight import preflight
    from tuitune.engine.watch import WatchCallback
    from tuitune.models.loading import load_model

    run = store.create_run(
        name=config.name or "watched",
        config=config.to_dict(),
        model=config.model.name_or_path,
        method=config.method,
        dataset=config.data.source,
        status=RUNNING,
    )

    def note(message: str, level: str = "info") -> None:
        store.add_event(run.id, message, level=level)

    checked = preflight(config)
    model = load_model(config.model, for_training=True)
    if poison:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.fill_(math.nan)
    model = prepare_for_method(model, config, note)
    arguments = training_arguments(config, output, has_validation=len(checked.prepared.validation) > 0)
    callbacks = [StoreCallback(store, run.id, Progress()), WatchCallback(store, run.id)]
    parts = TrainerParts(config, model, checked.tokenizer, checked.prepared, arguments, callbacks, None, output, note)
    build_trainer(parts).train()
    store.set_status(run.id, COMPLETED)
    return run.id


def warnings(store: Store, run_id: int) -> list[str]:
    return [event.message for event in store.events(run_id) if event.level == "warning"]


def test_pairs_told_apart_from_the_first_steps_are_warned_about_once(tmp_path: Path, demo_model_path: Path) -> None:
    # Every chosen answer is a long greeting, every rejected one two curt words: trivially separable.
    pairs = tmp_path / "pairs.jsonl"
    with pairs.open("w", encoding="utf-8") as handle:
        for index in range(40):
            row = {
                "prompt": f"Say something kind to guest number {index}.",
                "chosen": f"Hello, guest number {index}! It is wonderful to see you here today.",
                "rejected": "Go away.",
            }
            handle.write(json.dumps(row) + "\n")
    store = open_store()
    run_id = train_watched(dpo_config(str(pairs), steps=6), store, tmp_path / "out")

    accuracies = [p.extra["rewards/accuracies"] for p in store.metric_points(run_id) if p.loss is not None]
    informative = [a for a in accuracies if a][:3]
    assert informative == [1.0, 1.0, 1.0], accuracies  # what the warning is about, logged for real
    (warning,) = warnings(store, run_id)
    assert warning.startswith("Reward accuracy is 100% from the first steps")
    assert "pairs differ in something easy" in warning


def test_a_sample_preference_run_learning_normally_is_not_warned_about(dpo_run: Trained, dpo_home: Store) -> None:
    # The watch reads the run's own logs again: nothing wrong in them (its accuracy climbs from 0).
    from tuitune.engine.watch import RunWatch

    watch = RunWatch()
    for point in dpo_home.metric_points(dpo_run.run_id):
        logs = {**point.extra, **({"loss": point.loss} if point.loss is not None else {})}
        assert watch.read(logs, point.step) == []


def test_a_nan_loss_is_warned_about_once_in_words(tmp_path: Path, demo_model_path: Path) -> None:
    store = open_store()
    run_id = train_watched(dpo_config(steps=3), store, tmp_path / "out", poison=True)

    # The Trainer logs a NaN step's loss as the mean of those before it (0 at the first): its
    # gradient norm is what says so, and the evaluation at the end is NaN too.
    points = store.metric_points(run_id)
    assert all(p.grad_norm is None for p in points if p.loss is not None)  # NaN is stored as missing
    assert [p.eval_loss for p in points if p.loss is None] == [None]
    assert warnings(store, run_id) == [
        "The gradient norm is NaN at step 1 (the loss curve hides it: the Trainer logs such a step's loss as "
        "the mean of those before): the run has stopped learning and its weights may already be broken. Start "
        "again from an earlier checkpoint with a lower training.learning_rate, in bf16 or fp32 rather than fp16."
    ]


def test_a_grpo_run_with_no_reward_spread_and_every_completion_cut_is_warned_about_both_once(
    tmp_path: Path, demo_model_path: Path
) -> None:
    # The random demo model never says a sample's answer (exact_match: 0 for every completion, in
    # every group) and never ends within 4 tokens: both checks see it in the real logs.
    config = (
        ConfigBuilder()
        .demo()
        .method("lora")
        .objective("grpo", rewards=["exact_match"], num_generations=4, max_completion_length=4)
        .data(SAMPLE_PROMPTS, max_samples=16, validation_split=0)
        .training(max_steps=3, batch_size=4, logging_steps=1, save_steps=1000)
        .build()
    )
    store = open_store()
    run_id = train_watched(config, store, tmp_path / "out")

    logged = [p.extra for p in store.metric_points(run_id)]
    assert [(e["frac_reward_zero_std"], e["completions/clipped_ratio"], e["reward"]) for e in logged] == [
        (1.0, 1.0, 0.0)
    ] * 3
    assert {"reward_std", "rewards/exact_match/mean", "completions/mean_length", "entropy"} <= set(logged[0])
    assert warnings(store, run_id) == [
        "Every completion reached the length limit (steps 1 to 2): they are cut before they end, so a reward "
        "that reads the end of an answer never sees it. Raise grpo.max_completion_length, or ask for shorter "
        "answers in the prompts.",
        "In 100% of the prompt groups every completion got the same reward (steps 1 to 3): those groups give "
        "GRPO nothing to learn from. Make the reward give partial credit, raise grpo.num_generations or "
        "grpo.temperature, or use easier prompts.",
    ]
