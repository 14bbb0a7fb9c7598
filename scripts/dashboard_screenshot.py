"""Screenshots of the web dashboard: a real server, real demo runs, the system's headless Chromium.

    python scripts/dashboard_screenshot.py [--out screenshots] [--only dpo|workbench|live]

Writes, from runs trained here:
- live: dashboard-run.png (a run's page while it trains), dashboard-runs.png (the runs page: a
  finished run, the one training, two waiting in the queue), dashboard-queue.png (the queue page
  then), dashboard-phone-runs.png (the runs page at a phone's width);
- dpo: dashboard-dpo-run.png (a DPO run's page while it trains on the bundled preference sample:
  its reward margin and accuracy beside the loss);
- workbench: a sweep of three learning rates trained to the end, then dashboard-sweep.png (the
  sweep ranked), dashboard-compare.png (its runs compared), dashboard-run-finished.png (the best
  run's page after an evaluation: scores, samples, artifacts), dashboard-phone-run.png (the same at
  a phone's width), dashboard-chat.png (a chat with it and its base), dashboard-new-run.png (the
  new-run form with its model and data checked).
Everything happens in a temporary TUITUNE_HOME and every figure on the images comes from the runs
trained here. Needs Chromium (`apt-get install chromium`) and Playwright for Python
(`pip install -e '.[dev]'`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import chromium
from tests.helpers import running_server, wait_for
from tuitune.bundled import SAMPLE_PREFERENCE
from tuitune.client import Client

LIMIT_BYTES = 300_000


def config(name: str, steps: int, learning_rate: float, **lora: int) -> dict[str, Any]:
    return {
        "name": name,
        "method": "lora",
        "lora": {"r": 8, "alpha": 16, **lora},
        "data": {"max_length": 128},
        "training": {
            "max_steps": steps,
            "logging_steps": 1,
            "eval_steps": 10,
            "save_steps": 1000,
            "learning_rate": learning_rate,
        },
    }


def dpo_config(name: str, steps: int) -> dict[str, Any]:
    return {
        "name": name,
        "method": "lora",
        "objective": "dpo",
        "lora": {"r": 16, "alpha": 32},
        "data": {"source": SAMPLE_PREFERENCE, "validation_split": 0.1},
        "training": {
            "max_steps": steps,
            "batch_size": 8,
            "logging_steps": 1,
            "eval_steps": 10,
            "save_steps": 1000,
            "learning_rate": 5e-4,
        },
    }


def shoot(
    browser: Any,
    url: str,
    path: Path,
    *,
    height: int,
    wait_for_points: int = 0,
    chart: str = "#loss-chart",
    ready: str = "#runs table",
    width: int = 1280,
    full_page: bool = True,
    then: Any = None,
) -> None:
    """`url` at `width` once `ready` shows (or a chart has `wait_for_points`); `then(page)` acts first."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    if wait_for_points:
        page.wait_for_function(
            "([chart, n]) => Number(document.querySelector(chart)?.dataset.points) >= n",
            arg=[chart, wait_for_points],
            timeout=120_000,
        )
    else:
        page.wait_for_selector(ready, timeout=120_000)
    if then is not None:
        then(page)
    time.sleep(0.5)  # let the last frame paint
    page.screenshot(path=str(path), full_page=full_page)
    page.close()
    saved(path)


def saved(path: Path) -> None:
    size = path.stat().st_size
    print(f"{path} ({size / 1000:.0f} KB)")
    if size > LIMIT_BYTES:
        raise SystemExit(f"{path} is over {LIMIT_BYTES / 1000:.0f} KB: too big to commit")


def shoot_dpo(browser: Any, client: Client, url: str, out: Path) -> None:
    """A DPO run's page while it trains, its key curves under way; the run then finishes (the runs
    page lists it)."""
    watched = client.create_run(dpo_config("dpo beta=0.1", 80))
    wait_for(
        lambda: client.run(watched["id"])["steps_done"] >= 40,
        timeout=900,
        interval=0.5,
        what="the DPO run to be well under way",
    )
    shoot(
        browser,
        f"{url}/#/runs/{watched['id']}",
        out / "dashboard-dpo-run.png",
        height=1300,
        wait_for_points=40,
        chart="#key-chart-0",
    )
    client.wait(watched["id"], timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument(
        "--only", choices=["dpo", "workbench", "live"], help="Shoot only one group of pages (see above)."
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="tuitune-dashboard-"))
    os.environ.pop("HF_TOKEN", None)
    with running_server(home=home) as url, Client(url) as client, chromium() as browser:
        if args.only in (None, "workbench"):
            shoot_workbench(browser, client, url, args.out, home)
        if args.only in (None, "dpo"):
            shoot_dpo(browser, client, url, args.out)
        if args.only in (None, "live"):
            shoot_runs(browser, client, url, args.out)
    shutil.rmtree(home, ignore_errors=True)


def shoot_runs(browser: Any, client: Client, url: str, out: Path) -> None:
    """A run's page while it trains, and the runs page with two runs waiting in the queue."""
    finished = client.create_run(config("baseline lr=2e-4", 40, 2e-4))
    client.wait(finished["id"], timeout=600)
    watched = client.create_run(config("lora r=16 lr=5e-4", 120, 5e-4, r=16, alpha=32))
    client.create_run(config("lora r=32 lr=5e-4", 120, 5e-4, r=32, alpha=64))
    client.create_run(config("lora r=16 lr=1e-3", 120, 1e-3, r=16, alpha=32))
    wait_for(
        lambda: client.run(watched["id"])["steps_done"] >= 70,
        timeout=600,
        interval=0.5,
        what="the run to be well under way",
    )
    try:
        shoot(browser, f"{url}/#/runs/{watched['id']}", out / "dashboard-run.png", height=900, wait_for_points=70)
        shoot(browser, f"{url}/", out / "dashboard-runs.png", height=420)
        shoot(browser, f"{url}/#/queue", out / "dashboard-queue.png", height=600, ready="#queue-waiting li")
        shoot(browser, f"{url}/", out / "dashboard-phone-runs.png", height=1200, width=390, full_page=False)
    finally:
        for run in client.runs(limit=50):
            if run["status"] in ("queued", "running"):
                client.cancel(run["id"])
        for run in client.runs(limit=50):
            client.wait(run["id"], timeout=600)


def shoot_workbench(browser: Any, client: Client, url: str, out: Path, home: Path) -> None:
    """A sweep trained to its end, compared and ranked; its best run evaluated, chatted with; the
    new-run form checking the demo model and the sample."""
    base = home / "sweep-base.yaml"
    base.write_text(
        "name: lr sweep\nmethod: lora\nlora: {r: 8, alpha: 16}\ndata: {max_length: 128}\n"
        "training: {max_steps: 40, logging_steps: 1, eval_steps: 10, save_steps: 1000}\n"
    )
    subprocess.run(
        [sys.executable, "-m", "tuitune", "sweep", "-c", str(base), "--set", "training.learning_rate=2e-4,5e-4,1e-3"],
        check=True,
        env={**os.environ, "TUITUNE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
    )
    sweep = client.runs(limit=10)
    for run in sweep:
        client.wait(run["id"], timeout=900)
    sweep_id = sweep[0]["sweep_id"]
    ranked = sorted(sweep, key=lambda run: client.run(run["id"])["best_eval_loss"] or 1e9)
    best = ranked[0]["id"]
    task = client.evaluate(best, samples=3)
    wait_for(lambda: client.task(task["id"])["status"] != "running", timeout=900, interval=1, what="the evaluation")

    shoot(browser, f"{url}/#/sweeps/{sweep_id}", out / "dashboard-sweep.png", height=700, ready="#sweep-runs tr")
    ids = ",".join(str(run["id"]) for run in sweep)
    shoot(
        browser,
        f"{url}/#/compare/{ids}",
        out / "dashboard-compare.png",
        height=900,
        ready="#compare-loss[data-lines='3']",
    )
    shoot(
        browser,
        f"{url}/#/runs/{best}",
        out / "dashboard-run-finished.png",
        height=1800,
        ready="#evaluation-scores table",
        full_page=False,
    )
    shoot(
        browser,
        f"{url}/#/runs/{best}",
        out / "dashboard-phone-run.png",
        height=1400,
        width=390,
        ready="#evaluation-scores table",
        full_page=False,
    )

    def chat(page: Any) -> None:
        page.fill("#chat-prompt", "Give three tips for staying healthy.")
        page.click("#chat-send")
        page.wait_for_selector("#turns-base .chat-turn[data-state=done]", timeout=600_000)

    shoot(browser, f"{url}/#/runs/{best}/chat", out / "dashboard-chat.png", height=800, ready="#chat-prompt", then=chat)
    shoot(
        browser,
        f"{url}/#/new",
        out / "dashboard-new-run.png",
        height=1500,
        ready="#data-preflight[data-state=ready] .sample",
        full_page=False,
    )


if __name__ == "__main__":
    main()
