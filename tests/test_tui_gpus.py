"""Several GPUs in the app: a run trained by a group of processes shows its size in the history,
each rank's device and memory on the training screen and in the detail, and a rank that went
silent in red; the wizard offers processes and a strategy only where two or more GPUs are visible
(faked here with TUITUNE_GPUS, which the app's helper child reads as the engine does)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Select

from tests.clocks import FrozenClock
from tests.tui_steps import row
from tuitune._dev.pilot import notifications, screen_text, wait_until
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.store import RUNNING, Run, open_store
from tuitune.tui.app import create_app
from tuitune.tui.screens.detail import RunDetailScreen
from tuitune.tui.screens.history import HistoryScreen
from tuitune.tui.screens.training import TrainingScreen


def _group_config(nproc: int, strategy: str) -> dict:
    config = ConfigBuilder().demo().name("group").method("lora").build().to_dict()
    config["distributed"] = {**config["distributed"], "nproc": nproc, "strategy": strategy}
    return RunConfig.model_validate(config).to_dict()


@pytest.fixture
def group_run(tuitune_home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Run, Run]:
    """A run training on 4 GPUs with FSDP, whose rank 2 last beat three minutes ago (by a clock
    that stands still: the screen reads the time, and so does the check that the run still lives)."""
    from tuitune.runs import lookup
    from tuitune.tui.widgets import process_group

    clock = FrozenClock(monkeypatch).freeze(process_group, lookup)
    store = open_store()
    run = store.create_run(
        name="fsdp-4",
        config=_group_config(4, "fsdp"),
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
        status=RUNNING,
    )
    store.update_run(run.id, host="gpu-box-02", pid=None, steps_done=120, steps_total=400, devices="0,1,2,3")
    single = store.create_run(
        name="one-gpu",
        config=_group_config(1, "auto"),
        model="tuitune/demo",
        method="lora",
        dataset="tuitune/sample",
        status="completed",
    )
    now = clock.at
    for rank in range(4):
        clock.at = now - timedelta(seconds=180 if rank == 2 else 1)
        store.process_heartbeat(
            run.id,
            rank=rank,
            pid=4100 + rank,
            host="gpu-box-02",
            device=f"cuda:{rank}",
            step=120 if rank != 2 else 97,
            gpu_memory_gb=31.5 + rank,
            cpu_memory_gb=6.2,
        )
    clock.at = now  # the screen reads the time here
    return store.get_run(run.id), store.get_run(single.id)


async def test_a_group_run_shows_its_ranks_and_the_one_that_went_silent(group_run):
    run, single = group_run
    app = create_app(reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_until(pilot, lambda: history.table.total_count == 2, what="the runs")
        assert row(history.table, run.id).cells[9] == "lora 4×fsdp"
        assert row(history.table, single.id).cells[9] == "lora"  # one process: nothing added

        app.show_training(run.id)
        training = app.screen
        assert isinstance(training, TrainingScreen)
        await wait_until(pilot, lambda: "4 processes · fsdp · 1 machine" in screen_text(app), what="the group")
        text = screen_text(app)
        assert "rank 2 stopped heartbeating 3m 00s ago" in text
        for rank in range(4):
            assert f"rank {rank}" in text and f"cuda:{rank}" in text
        assert "gpu-box-02:4102" in text and "step 97" in text and "GPU 34.5 GB RAM 6.2 GB" in text

        app.open_run(run.id)
        detail = await wait_until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.run and app.screen, what="the detail"
        )
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "processes" in text and "4 processes · fsdp" in text and "cuda:3" in text
        assert isinstance(detail, RunDetailScreen) and detail.run and detail.run.id == run.id
    assert not notifications(app, "error")


async def _method_step(pilot):
    wizard = pilot.app.screen
    await wait_until(pilot, lambda: wizard.query_one("#model-step").document, timeout=120, what="the demo model")
    wizard.go_to("method")
    await pilot.pause()
    return wizard


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_the_wizard_offers_processes_and_a_strategy_when_several_gpus_are_visible(demo_model_path, monkeypatch):
    monkeypatch.setenv("TUITUNE_GPUS", "0,1,2,3")
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await _method_step(pilot)
        await wait_until(pilot, lambda: wizard.query("#field-distributed-nproc"), what="the group's fields")
        await wait_until(
            pilot, lambda: wizard.query_one("#field-distributed-nproc").value == "4", what="one process per GPU"
        )
        text = screen_text(app)
        assert "Processes" in text and "Strategy" in text and "4 GPUs visible (0, 1, 2, 3)" in text
        wizard.query_one("#field-distributed-strategy", Select).value = "fsdp"
        wizard.query_one("#field-distributed-nproc").focus()
        await pilot.press("ctrl+u", "6", "5")  # over the config's limit
        message = str(wizard.query_one("#field-distributed-nproc-error").render())
        assert message == "Processes must be a whole number ≥ 1 and ≤ 64."
        assert wizard.query_one("#method-step").first_error().startswith("Processes must be")
        wizard.query_one("#field-distributed-nproc").value = "2"
        await pilot.pause()
        config = wizard.build_config()
        assert config.distributed.nproc == 2 and config.distributed.strategy == "fsdp"
    assert not notifications(app, "error")


@pytest.mark.integration  # the wizard reads the model in the app's helper process
async def test_one_gpu_or_none_shows_no_group_fields(demo_model_path, monkeypatch):
    monkeypatch.setenv("TUITUNE_GPUS", "0")
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await _method_step(pilot)
        await wait_until(
            pilot, lambda: "Recommended" in str(wizard.query_one("#recommendation").render()), what="the recommendation"
        )
        assert not wizard.query("#field-distributed-nproc") and "Processes" not in screen_text(app)
        assert wizard.build_config().distributed.nproc is None


def test_the_memory_panel_reads_the_gpus_the_run_was_given() -> None:
    from tuitune.system.gpu import GpuReading
    from tuitune.tui.services import gpu_memory

    box = [GpuReading(index, "H200", 139.8, 10.0 * index, 25.0 * index) for index in range(4)]
    assert gpu_memory(box, "2").label == "GPU 2 H200"
    both = gpu_memory(box, "2,3")
    assert both.label == "GPUs 2,3 H200"
    assert both.used_gb == 50.0 and both.total_gb == 2 * 139.8 and both.utilization_percent == 62.5
    # Given no GPU in particular, a run trains on GPU 0.
    assert gpu_memory(box, None).label == "GPU 0 H200"
