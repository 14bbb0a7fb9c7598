"""Comparing runs and ordering the queue in a real browser: three runs trained a few steps at
different learning rates are ticked on the runs page (sorted and filtered there) and compared: the
page draws three curves of exactly the stored losses, by step or by epoch, smoothed or not, on a
linear or a log axis, and shows the learning rates that differ and the figures; a queued run is
moved to the top with the keyboard and the queue the API shows has the new order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import link_models
from tests.helpers import running_server, wait_for
from tuitune.client import Client
from tuitune.store import COMPLETED

pytestmark = [pytest.mark.slow, pytest.mark.serial]
expect.set_options(timeout=30_000)  # a busy CI machine

RATES = (1e-3, 2e-3, 5e-3)


def config(name: str, learning_rate: float, steps: int = 4) -> dict[str, Any]:
    return {
        "name": name,
        "method": "lora",
        "data": {"max_length": 64},
        "training": {"max_steps": steps, "logging_steps": 1, "save_steps": 1000, "learning_rate": learning_rate},
    }


@dataclass(frozen=True)
class Served:
    url: str
    client: Client
    trained: list[int]  # one run per learning rate, in RATES order


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path
) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("compare-browser-home")
    link_models(home, shared_models_dir)
    before = os.environ.get("TUITUNE_HOME")
    os.environ["TUITUNE_HOME"] = str(home)  # the per-test home is not set up for a module's fixture
    try:
        with running_server(home=home) as url, Client(url) as client:
            # Through the queue: one after another, so two cores train one run at a time.
            trained = [client.create_run(config(f"lr {rate}", rate))["id"] for rate in RATES]
            for run_id in trained:
                assert client.wait(run_id, timeout=600)["status"] == COMPLETED
            yield Served(url, client, trained)
    finally:
        if before is None:
            os.environ.pop("TUITUNE_HOME", None)
        else:
            os.environ["TUITUNE_HOME"] = before


# What an overlay chart holds: its x values and one column per run (tuitune/serve/static/js/overlay_chart.js).
CHART = "id => { const chart = document.getElementById(id).overlayChart; return [chart.data, chart.log]; }"


def smoothed(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased moving average, as the page computes it."""
    last, out = 0.0, []
    for seen, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**seen))
    return out


def test_three_runs_ticked_on_the_runs_page_are_compared_curve_by_curve(served: Served, page: Any) -> None:
    url, client, trained = served.url, served.client, served.trained
    page.goto(f"{url}/")
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(3)

    # Sorted by loss (a header click; again: the other way), as the store orders the losses.
    losses = {run_id: client.run(run_id)["last_loss"] for run_id in trained}
    by_loss = sorted(trained, key=lambda run_id: losses[run_id])
    page.click("#runs th button[data-sort=loss]")
    expect(page.locator("#runs th[aria-sort=ascending]")).to_have_count(1)
    wait_for(lambda: ids_shown(page) == by_loss, timeout=30, what="the runs sorted by loss")
    page.click("#runs th button[data-sort=loss]")
    wait_for(lambda: ids_shown(page) == by_loss[::-1], timeout=30, what="the runs sorted by loss, descending")
    # Filtered by words and by a select the store's runs fill.
    page.fill("#run-filter", "0.002")
    expect(rows).to_have_count(1)
    page.fill("#run-filter", "")
    expect(rows).to_have_count(3)
    assert page.locator("#method-filter option").all_inner_texts() == ["every method", "lora"]
    page.select_option("#objective-filter", "sft")
    expect(rows).to_have_count(3)
    expect(page.locator("td[data-label=Duration]").first).not_to_have_text("—")

    for run_id in trained:
        page.check(f"tr[data-run-id='{run_id}'] input.pick")
    expect(page.locator("#compare-selected")).to_have_text("Compare 3 selected")
    page.click("#compare-selected")
    page.wait_for_url(f"**/#/compare/{','.join(map(str, trained))}")

    # Three curves, each exactly the losses the store holds, by step.
    points = {run_id: [p for p in client.metrics(run_id) if p["loss"] is not None] for run_id in trained}
    expect(page.locator("#compare-loss")).to_have_attribute("data-lines", "3")
    (steps, *columns), log = page.evaluate(CHART, "compare-loss")
    assert steps == [1, 2, 3, 4] and not log
    assert columns == [[p["loss"] for p in points[run_id]] for run_id in trained]

    # The setting that differs, with the three values; the figures side by side.
    rates = page.locator("#compare-differences tr[data-key='training.learning_rate'] td").all_inner_texts()
    assert rates == ["0.001", "0.002", "0.005"]
    assert page.locator("#compare-differences tbody tr").count() == 1  # nothing else differs
    finals = page.locator("#compare-metrics tr[data-metric=train_loss] td").all_inner_texts()
    summaries = {
        s["run_id"]: s for s in client._call("GET", "/compare", params={"runs": ",".join(map(str, trained))})["runs"]
    }
    assert finals == [f"{summaries[run_id]['train_loss']:.4f}" for run_id in trained]
    lowest = page.locator("#compare-metrics tr[data-metric=min_loss] td").all_inner_texts()
    assert lowest == [f"{min(p['loss'] for p in points[run_id]):.4f}" for run_id in trained]
    assert page.locator("#compare-metrics tr[data-metric=tokens_per_second] td").count() == 3
    # Each run's colour is the same in the legend, the tables and the chart.
    legend = page.eval_on_selector_all("#compare-runs .swatch", "nodes => nodes.map(n => n.style.background)")
    headers = page.eval_on_selector_all("#compare-metrics thead .swatch", "nodes => nodes.map(n => n.style.background)")
    assert legend == headers and len(set(legend)) == 3

    # By epoch: the epochs the store holds on x.
    page.select_option("#compare-x", "epoch")
    wait_for(lambda: page.evaluate(CHART, "compare-loss")[0][0] != steps, timeout=10, what="the epoch axis")
    epochs = sorted({p["epoch"] for run_id in trained for p in points[run_id]})
    assert page.evaluate(CHART, "compare-loss")[0][0] == epochs
    page.select_option("#compare-x", "step")

    # Log scale, then smoothing: the chart holds the moving average of the same losses.
    page.check("#compare-log")
    wait_for(lambda: page.evaluate(CHART, "compare-loss")[1], timeout=10, what="the log axis")
    page.eval_on_selector(
        "#compare-smoothing", "node => { node.value = '0.6'; node.dispatchEvent(new Event('input')); }"
    )
    expect(page.locator("#compare-smoothing-value")).to_have_text("0.60")
    (_, *smooth_columns), log = page.evaluate(CHART, "compare-loss")
    assert log
    for column, run_id in zip(smooth_columns, trained):
        assert column == pytest.approx(smoothed([p["loss"] for p in points[run_id]], 0.6))
        assert column != [p["loss"] for p in points[run_id]]

    # A phone's width: nothing scrolls sideways, the chart fits the window.
    page.set_viewport_size({"width": 390, "height": 800})
    wait_for(lambda: page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), timeout=10, what="fit")
    assert page.evaluate("document.querySelector('#compare-loss canvas').getBoundingClientRect().right") <= 390


def ids_shown(page: Any) -> list[int]:
    return [
        int(value) for value in page.eval_on_selector_all("#runs tbody tr", "rows => rows.map(r => r.dataset.runId)")
    ]


def test_a_queued_run_moves_to_the_top_from_the_queue_page(served: Served, page: Any) -> None:
    url, client = served.url, served.client
    client.pause(True)  # they wait: nothing trains in this test
    waiting = [client.create_run(config(f"waiting {n}", 1e-3, steps=2))["id"] for n in range(3)]
    try:
        page.goto(f"{url}/#/queue")
        entries = page.locator("#queue-list li")
        expect(entries).to_have_count(3)
        expect(page.locator("#queue-state")).to_contain_text("paused")
        expect(page.locator("#queue-pause")).to_have_text("Unpause")
        # The last one to the top, from the keyboard: its button is reached and pressed like any other.
        top = page.locator(f"#queue-list li[data-run-id='{waiting[-1]}'] button.top")
        top.focus()
        page.keyboard.press("Enter")
        new_order = [waiting[-1], *waiting[:-1]]
        wait_for(
            lambda: [entry["id"] for entry in client.queue()["queued"]] == new_order, timeout=30, what="the new order"
        )
        expect(entries.first).to_have_attribute("data-run-id", str(waiting[-1]))
        # Move down, one place.
        page.click(f"#queue-list li[data-run-id='{waiting[-1]}'] button.down")
        wait_for(
            lambda: [entry["id"] for entry in client.queue()["queued"]] == [waiting[0], waiting[-1], waiting[1]],
            timeout=30,
            what="one place down",
        )
        expect(entries.nth(1)).to_have_attribute("data-run-id", str(waiting[-1]))

        # The slots box keeps what is typed while the page refreshes; a refused count says why beside it.
        from tuitune.engine.queue import MAX_SLOTS

        page.fill("#slots-input", str(MAX_SLOTS + 1))
        page.click("#slots-set")
        expect(page.locator("#slots-error")).to_contain_text(f"less than or equal to {MAX_SLOTS}")
        with page.expect_response(lambda response: response.url.endswith("/queue")):
            pass  # the page's next refresh
        assert page.locator("#slots-input").input_value() == str(MAX_SLOTS + 1)  # what was typed stays
        page.fill("#slots-input", "2")
        page.click("#slots-set")
        wait_for(lambda: client.queue()["slots"] == 2, timeout=30, what="two slots")
        assert client.queue()["paused"]  # still paused: setting slots started nothing
    finally:
        for run_id in waiting:
            client.cancel(run_id)
