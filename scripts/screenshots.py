"""Drive the app through every screen and save SVG snapshots at 120x36 and 80x24 in screenshots/.

    python scripts/screenshots.py [--out screenshots] [--size 120x36 --size 80x24]

Everything happens in a temporary TUITUNE_HOME: realistic runs are written straight into its
store (`tuitune.tui.sample_runs`), the demo model is built there for the wizard, and a small
folder of data files is the wizard's file picker. No Hugging Face token is read or typed: the
script clears HF_TOKEN, and the upload form is shot with its token field empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _prepare(home: Path) -> None:
    """Sample runs (with logs) in the store, the demo model built, data files to pick from."""
    from tuitune.store import open_store
    from tuitune.tui.sample_runs import populate, write_log

    for run in populate(open_store(), output_root=str(home / "runs")):
        write_log(run)
    # Build the demo model in a child (it needs torch), so the wizard's first probe is quick.
    subprocess.run([sys.executable, "-m", "tuitune.tui.probe", "tuitune/demo"], check=True, capture_output=True)
    data = home / "workspace" / "data"
    data.mkdir(parents=True)
    sample = REPO / "tuitune" / "data" / "sample" / "sample.jsonl"
    (data / "support-tickets.jsonl").write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
    (data / "recipes.csv").write_text("question,answer\nHow long do I boil an egg?,Nine minutes for a firm yolk.\n")
    (data / "notes.txt").write_text("Plain text documents, one per blank-line-separated block.\n")


async def _shoot_all(out: Path, size: tuple[int, int]) -> list[Path]:
    from tuitune.store import open_store
    from tuitune.tui.app import create_app
    from tuitune.tui.testing import settle, wait_until

    width, height = size
    saved: list[Path] = []

    async def shoot(app, name: str) -> None:
        await asyncio.sleep(0.3)
        path = out / f"{name}-{width}x{height}.svg"
        app.save_screenshot(path.name, str(out))
        saved.append(path)

    runs = {run.name: run for run in open_store().list_runs()}

    # --- the wizard -------------------------------------------------------------------------
    app = create_app(mode="new", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        wizard = app.screen
        await settle(pilot, names=["_probe", "_load_choices"])
        await shoot(app, "wizard-1-model")
        await pilot.press("enter")
        await settle(pilot, names=["_probe"])
        await shoot(app, "wizard-2-dataset")
        await pilot.press("enter")
        await shoot(app, "wizard-3-method")
        wizard.query_one("#advanced").collapsed = False
        wizard.query_one("#method-step").scroll_end(animate=False)
        await shoot(app, "wizard-3-method-advanced")
        await pilot.press("ctrl+n")
        await shoot(app, "wizard-4-review")

    # --- history, detail, compare, modals -----------------------------------------------------
    app = create_app(mode="history", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        history = app.screen
        await wait_until(pilot, lambda: history.table.total_count, what="the runs")
        await shoot(app, "history")
        for name in ("qwen-support-lora", "qwen-support-r32", "llama3-8b-qlora"):
            history.table.move_to(runs[name].id)
            await pilot.press("space")
        history.table.sort_by("best_eval")
        await shoot(app, "history-marked-sorted")
        history.query_one("#filter").value = "qlora"
        await pilot.pause()
        await shoot(app, "history-filtered")
        history.query_one("#filter").value = ""
        history.table.move_to(runs["qwen-support-lora"].id)
        await pilot.press("c")
        compare = await wait_until(pilot, lambda: getattr(app.screen, "comparison", None) and app.screen, what="the comparison")
        await shoot(app, "compare-curves")
        compare.query_one("#compare-tabs").active = "metrics-pane"
        await shoot(app, "compare-metrics")
        compare.query_one("#compare-tabs").active = "diff"
        await shoot(app, "compare-config-diff")
        await pilot.press("escape")
        history.table.move_to(runs["qwen-support-lora"].id)
        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: getattr(app.screen, "run", None) and app.screen, what="the detail")
        await shoot(app, "detail-overview")
        for tab in ("charts", "evaluations", "artifacts", "log-pane"):
            detail.query_one("#detail-tabs").active = tab
            await pilot.pause(0.3)
            await shoot(app, f"detail-{tab.replace('-pane', '')}")
        await pilot.press("u")
        await shoot(app, "modal-upload")
        await pilot.press("escape")
        await pilot.press("r")
        await shoot(app, "modal-resume")
        await pilot.press("escape", "escape")
        history.table.move_to(runs["smollm-full"].id)
        await pilot.press("d")
        await shoot(app, "modal-delete")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await shoot(app, "help")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await shoot(app, "command-palette")
        await pilot.press("escape")

    # --- training: a live run and a finished one ----------------------------------------------
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        training = app.screen
        app.show_training(runs["qwen-support-dora"].id)
        await wait_until(pilot, lambda: training.run is not None and training.query_one("#loss").values, what="the live run")
        await pilot.pause(1.0)
        await shoot(app, "training-live")
        await pilot.press("c")
        await shoot(app, "modal-cancel")
        await pilot.press("n")
        app.show_training(runs["qwen-support-lora"].id)
        await wait_until(pilot, lambda: training.run is not None and training.run.name == "qwen-support-lora" and training.query_one("#loss").values, what="the finished run")
        await pilot.pause(1.0)
        await shoot(app, "training-finished")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "screenshots"))
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT (repeatable); default 120x36 and 80x24")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.lower().split("x")) for s in (args.size or ["120x36", "80x24"])]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    for secret in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(secret, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A fixed folder rather than a random one, so the screenshots come out the same every time.
    home = Path(tempfile.gettempdir()) / "tuitune-screenshots"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    try:
        os.environ["TUITUNE_HOME"] = str(home)
        _prepare(home)
        os.chdir(home / "workspace")  # the wizard's file picker starts here
        saved = []
        for size in sizes:
            saved += asyncio.run(_shoot_all(out, size))  # type: ignore[arg-type]
    finally:
        os.chdir(REPO)
        shutil.rmtree(home, ignore_errors=True)
    for path in saved:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"hf_[A-Za-z0-9]{8,}", text), f"{path} shows something that looks like a token"
        # Show run folders where a user's would be, rather than under the temporary home.
        path.write_text(text.replace(str(home), "~/.local/share/tuitune"), encoding="utf-8")
    print(f"saved {len(saved)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
