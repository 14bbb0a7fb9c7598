"""Train real runs of the demo model, then drive the app through every screen and save SVGs.

    python scripts/screenshots.py [--out screenshots] [--size 120x36 --size 80x24] [--only dpo]

What the screenshots show really happened, in a temporary TUITUNE_HOME: the built-in demo model is
built there, and the runs are trained by real workers on the bundled sample data (LoRA at two
ranks on a small greetings file, a full fine-tune on the sample data, one cancelled midway, one
that fails because instruction tuning needs alpaca data and was given conversations), the first
two evaluated against the base model, and a long run is still training while the live screen is
shot. A CPU has no GPU memory to show: there
the memory panel shows the worker's RAM (say so in a caption). The chat screens are real too:
the LoRA run and its base answer a prompt side by side in the chat child process, and two runs
queue behind the live one. Two DPO runs on the bundled preference sample, at beta 0.1 and 0.5, show a
preference run's training screen (its reward margin and accuracy beside the loss) and their
comparison (`--only dpo` shoots just those two). It takes a few minutes.

No Hugging Face token is read or typed: the script clears HF_TOKEN, and the upload form is shot
with its token field empty.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _data_files(folder: Path) -> None:
    """The wizard's file picker: the sample as a user's file, a CSV, a text file, conversations."""
    folder.mkdir(parents=True)
    sample = REPO / "tuitune" / "data" / "sample" / "sample.jsonl"
    (folder / "support-tickets.jsonl").write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "recipes.csv").write_text("question,answer\nHow long do I boil an egg?,Nine minutes for a firm yolk.\n")
    (folder / "notes.txt").write_text("Plain text documents, one per blank-line-separated block.\n")
    with (folder / "chats.jsonl").open("w", encoding="utf-8") as handle:
        for n in range(24):
            turns = [{"from": "human", "value": f"What is {n} plus {n}?"}, {"from": "gpt", "value": f"{2 * n}."}]
            handle.write(json.dumps({"conversations": turns}) + "\n")
    # One clear pattern, so a LoRA adapter on the tiny demo model learns it in a few dozen steps
    # and the evaluation has something to show (the sample data needs far longer on a CPU).
    with (folder / "greetings.jsonl").open("w", encoding="utf-8") as handle:
        for name in (
            "Ada",
            "Linus",
            "Grace",
            "Ken",
            "Dennis",
            "Barbara",
            "Alan",
            "Edsger",
            "Donald",
            "Margaret",
            "Guido",
            "Bjarne",
        ):
            for topic in ("the weather", "music", "books", "the sea", "coffee"):
                row = {
                    "instruction": f"Greet {name} and mention {topic}.",
                    "output": f"Hello {name}, it is good to see you. Let us talk about {topic}.",
                }
                handle.write(json.dumps(row) + "\n")


def _train(data: Path) -> dict[str, int]:
    """Real runs, one after the other (two CPU cores: side by side they would only be slower)."""
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher
    from tuitune.store import open_store

    greetings = str(data / "greetings.jsonl")

    def short(name: str, method: str = "lora", steps: int = 60, source: str = greetings, **training):
        builder = (
            ConfigBuilder()
            .demo()
            .name(name)
            .method(method)
            .data(source, max_length=64, validation_split=0.2)
            .training(
                max_steps=steps,
                batch_size=8,
                logging_steps=3,
                eval_steps=12,
                save_steps=30,
                lr_scheduler="constant",
                warmup_ratio=0.0,
                **training,
            )
            .evaluation(samples=8, max_new_tokens=24)
        )
        return builder if method == "full_finetuning" else builder.lora(r=8, alpha=16)

    runs: dict[str, int] = {}
    for name, builder in (
        ("greet-lora-r8", short("greet-lora-r8", learning_rate=5e-3)),
        ("greet-lora-r16", short("greet-lora-r16", learning_rate=2e-3).lora(r=16, alpha=32)),
        ("sample-full", short("sample-full", method="full_finetuning", source="tuitune/sample", learning_rate=1e-3)),
        (
            "chats-instructions",
            short("chats-instructions", method="instruction_tuning", source=str(data / "chats.jsonl")),
        ),
    ):
        run = launcher.launch(builder.build())
        runs[name] = launcher.wait(run.id, timeout=900).id
        print(f"  {name}: {open_store().get_run(run.id).status}", flush=True)
    # One stopped midway, after its first checkpoint: it resumes from there.
    run = launcher.launch(short("greet-cancelled", steps=400, learning_rate=2e-3).training(save_steps=20).build())
    while open_store().get_run(run.id).steps_done < 45 and open_store().get_run(run.id).is_active:
        time.sleep(0.5)
    launcher.cancel(open_store().get_run(run.id))
    runs["greet-cancelled"] = launcher.wait(run.id, timeout=300).id
    print(f"  greet-cancelled: {open_store().get_run(run.id).status}", flush=True)
    # Real evaluations, fine-tuned against base, exactly as `e` runs them.
    for name in ("greet-lora-r8", "greet-lora-r16"):
        subprocess.run(
            [sys.executable, "-m", "tuitune", "eval", str(runs[name]), "--compare-base", "--json"],
            check=True,
            capture_output=True,
        )
        print(f"  {name}: evaluated", flush=True)
    return runs


def _train_dpo() -> dict[str, int]:
    """Two real DPO runs that differ in beta, on the bundled preference sample."""
    from tuitune.bundled import SAMPLE_PREFERENCE
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher
    from tuitune.store import open_store

    runs: dict[str, int] = {}
    for beta in (0.1, 0.5):
        name = f"dpo-beta-{beta}"
        config = (
            ConfigBuilder()
            .demo()
            .name(name)
            .method("lora")
            .lora(r=16, alpha=32)
            .objective("dpo", beta=beta)
            .data(SAMPLE_PREFERENCE, validation_split=0.1)
            .training(max_steps=60, batch_size=8, logging_steps=2, eval_steps=10, save_steps=1000, learning_rate=2e-3)
            .build()
        )
        run = launcher.launch(config)
        runs[name] = launcher.wait(run.id, timeout=900).id
        print(f"  {name}: {open_store().get_run(run.id).status}", flush=True)
    return runs


async def _shoot_dpo(out: Path, size: tuple[int, int], runs: dict[str, int]) -> list[Path]:
    """A DPO run's training screen, and the two DPO runs compared on their key curves."""
    from tuitune._dev.pilot import wait_until
    from tuitune.tui.app import create_app

    saved: list[Path] = []
    shoot = _shooter(out, size, saved)
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        training = app.screen
        app.show_training(runs["dpo-beta-0.1"])
        await wait_until(
            pilot,
            lambda: training.run is not None and training.query_one("#key-1").values,
            what="the DPO run's key curves",
        )
        await pilot.pause(1.0)
        await shoot(app, "training-dpo")

    app = create_app(mode="history", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        history = app.screen
        await wait_until(pilot, lambda: history.table.total_count, what="the runs")
        for name in ("dpo-beta-0.1", "dpo-beta-0.5"):
            history.table.move_to(runs[name])
            await pilot.press("space")
        await pilot.press("v")
        compare = await wait_until(
            pilot, lambda: getattr(app.screen, "comparison", None) and app.screen, what="the comparison"
        )
        await wait_until(pilot, lambda: compare.query("#key-chart-1"), what="the key charts")
        await pilot.pause(0.5)
        await shoot(app, "compare-dpo-curves")
        compare.query_one("#compare-tabs").active = "metrics-pane"
        await shoot(app, "compare-dpo-metrics")
    return saved


def _live_run() -> int:
    """A long run that keeps training while the live screen is shot; cancelled at the end."""
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher

    config = (
        ConfigBuilder()
        .demo()
        .name("demo-live")
        .method("lora")
        .lora(r=16, alpha=32)
        .data(max_length=128, validation_split=0.1)
        .training(max_steps=3000, batch_size=8, logging_steps=2, eval_steps=10, save_steps=3000, learning_rate=2e-3)
        .build()
    )
    return launcher.launch(config).id


def _shooter(out: Path, size: tuple[int, int], saved: list[Path]):
    """`shoot(app, name)`: the app's screen as out/NAME-WxH.svg, without its passing notifications."""
    width, height = size

    async def shoot(app, name: str) -> None:
        await asyncio.sleep(0.3)
        app.clear_notifications()
        await asyncio.sleep(0.1)
        path = out / f"{name}-{width}x{height}.svg"
        app.save_screenshot(path.name, str(out))
        saved.append(path)

    return shoot


async def _shoot_wizard(out: Path, size: tuple[int, int]) -> list[Path]:
    """The wizard's steps with the demo and its sample; then the bundled preference set: its pairs,
    the objective it suggests (dpo) with that objective's settings, and Review."""
    from tuitune._dev.pilot import settle
    from tuitune.bundled import SAMPLE_PREFERENCE
    from tuitune.tui.app import create_app

    saved: list[Path] = []
    shoot = _shooter(out, size, saved)
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
        await pilot.pause()
        wizard.query_one("#method-step").scroll_end(animate=False)
        await shoot(app, "wizard-3-method-advanced")
        await pilot.press("ctrl+n")
        await settle(pilot, names=["_run_check"])
        await shoot(app, "wizard-4-review")
        # A preference set, read for dpo: the pairs (stacked at 80 columns), the settings, Review.
        wizard.query_one("#advanced").collapsed = True
        wizard.go_to("dataset")
        await pilot.pause()
        field = wizard.query_one("#data-input")
        field.value = SAMPLE_PREFERENCE
        field.action_end()  # typed: no text left selected
        await pilot.press("enter")
        await settle(pilot, names=["_probe"])
        wizard.query_one("#data-preview").scroll_end(animate=False)
        await shoot(app, "wizard-2-dataset-preference")
        await pilot.press("enter")
        wizard.query_one("#method-step").scroll_end(animate=False)
        await shoot(app, "wizard-3-method-dpo")
        await pilot.press("ctrl+n")
        await settle(pilot, names=["_run_check"])
        await shoot(app, "wizard-4-review-dpo")
    return saved


async def _shoot_all(out: Path, size: tuple[int, int], runs: dict[str, int], live: int) -> list[Path]:
    from tuitune._dev.pilot import wait_until
    from tuitune.tui.app import create_app

    saved: list[Path] = await _shoot_wizard(out, size)
    shoot = _shooter(out, size, saved)

    # --- training: a live run and a finished one ----------------------------------------------
    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        training = app.screen
        app.show_training(live)
        await wait_until(
            pilot,
            lambda: training.run is not None and len(training.query_one("#loss").values) > 8,
            timeout=300,
            what="the live run",
        )
        await pilot.pause(1.0)
        await shoot(app, "training-live")
        await pilot.press("c")
        await shoot(app, "modal-cancel")
        await pilot.press("n")
        app.show_training(runs["greet-lora-r8"])
        await wait_until(
            pilot,
            lambda: (
                training.run is not None
                and training.run.id == runs["greet-lora-r8"]
                and training.query_one("#loss").values
            ),
            what="the finished run",
        )
        await pilot.pause(1.0)
        await shoot(app, "training-finished")
        app.show_training(runs["chats-instructions"])
        await wait_until(
            pilot,
            lambda: training.run is not None and training.run.id == runs["chats-instructions"],
            what="the failed run",
        )
        await pilot.pause(1.0)
        await shoot(app, "training-failed")

    # --- history, detail, compare, dialogs ---------------------------------------------------
    app = create_app(mode="history", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        history = app.screen
        await wait_until(pilot, lambda: history.table.total_count, what="the runs")
        await shoot(app, "history")
        for name in ("greet-lora-r8", "greet-lora-r16", "sample-full"):
            history.table.move_to(runs[name])
            await pilot.press("space")
        history.table.sort_by("best_eval")
        await shoot(app, "history-marked-sorted")
        await pilot.press("s")
        await shoot(app, "history-sort-menu")
        await pilot.press("escape")
        history.query_one("#filter").value = "lora"
        await pilot.pause()
        await shoot(app, "history-filtered")
        history.query_one("#filter").value = ""
        # A note and tags, written in their dialog (the detail below shows them).
        history.table.move_to(runs["greet-lora-r8"])
        await pilot.press("l")
        labels = await wait_until(pilot, lambda: app.screen.query("#tags") and app.screen, what="the label dialog")
        labels.query_one("#notes").value = "lr 5e-3 learns the greetings by step 40; r16 adds nothing"
        labels.query_one("#tags").value = "baseline keep"
        await shoot(app, "label-dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is history, what="the history again")
        history.table.move_to(runs["greet-lora-r8"])
        await pilot.press("v")
        compare = await wait_until(
            pilot, lambda: getattr(app.screen, "comparison", None) and app.screen, what="the comparison"
        )
        await pilot.pause(0.5)
        await shoot(app, "compare-curves")
        compare.query_one("#compare-tabs").active = "metrics-pane"
        await shoot(app, "compare-metrics")
        compare.query_one("#compare-tabs").active = "diff"
        await shoot(app, "compare-config-diff")
        await pilot.press("escape")
        history.table.move_to(runs["greet-lora-r8"])
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
        await pilot.press("g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ExportModal", what="the export dialog")
        await shoot(app, "modal-export")
        await pilot.press("escape")
        await pilot.press("r")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ResumeModal", what="the resume dialog")
        await shoot(app, "modal-resume")
        await pilot.press("escape", "escape")
        history.table.move_to(runs["greet-cancelled"])
        await pilot.press("d")
        await shoot(app, "modal-delete")
        await pilot.press("escape")
        await pilot.press("question_mark")
        await shoot(app, "help")
        await pilot.press("escape")
        await pilot.press("exclamation_mark")
        await shoot(app, "messages")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await shoot(app, "command-palette")
        await pilot.press("escape")

        # --- chat: the fine-tuned run and its base, side by side, greedy --------------------------
        history.table.clear_marks()  # `a` with two runs marked chats with both; here, one run and its base
        history.table.move_to(runs["greet-lora-r8"])
        await pilot.press("a")
        chat = await wait_until(
            pilot, lambda: type(app.screen).__name__ == "ChatScreen" and app.screen, what="the chat"
        )
        await wait_until(
            pilot, lambda: chat.session is not None and len(chat.session.loaded) == 2, timeout=300, what="the models"
        )
        await pilot.press("ctrl+o")
        await pilot.press("ctrl+u", "0")  # temperature 0: greedy, the same answer on every machine
        app.screen.query_one("#max_new_tokens").value = "32"
        await shoot(app, "chat-settings")
        await pilot.press("ctrl+s")
        for prompt in ("Greet Ada and mention music.", "Greet Grace and mention the sea."):
            turns = len(chat.session.turns)
            await pilot.press(*prompt, "enter")
            await wait_until(
                pilot,
                lambda turns=turns: not chat.generating and len(chat.session.turns) > turns,
                timeout=300,
                what="the answers",
            )
        await pilot.pause(0.5)
        await shoot(app, "chat-side-by-side")
        await pilot.press("escape")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HistoryScreen", what="the history")
        history.table.move_to(runs["greet-lora-r8"])
        await pilot.press("enter")
        detail = await wait_until(
            pilot, lambda: getattr(app.screen, "conversations", None) and app.screen, what="the chats"
        )
        detail.query_one("#detail-tabs").active = "chats"
        await pilot.pause(0.3)
        await shoot(app, "detail-chats")
        await pilot.press("escape")

        # --- the queue: two runs wait behind the live one ------------------------------------------
        from tuitune.engine import queue

        queued = _queue_two()
        await wait_until(pilot, lambda: all(history.table.get_row(run_id) for run_id in queued), what="the queued runs")
        history.table.move_to(queued[1])
        await pilot.pause(0.5)
        await shoot(app, "history-queue")
        await pilot.press("t")

        def place() -> bool:
            return any("position 2 of 2" in str(label.render()) for label in app.screen.query("#progress-text"))

        await wait_until(pilot, place, what="its place")
        await pilot.pause(0.5)
        await shoot(app, "training-queued")
        from tuitune.engine import launcher
        from tuitune.store import open_store

        for run_id in queued:  # gone again: the next size queues its own, and shoots the same history
            launcher.delete(launcher.cancel(open_store().get_run(run_id)), files=True)
        queue.unpause()
    return saved


def _queue_two() -> list[int]:
    """Two runs at the end of a paused queue (the live run holds the only slot of a CPU box)."""
    from tuitune.config import ConfigBuilder
    from tuitune.engine import queue

    queue.pause()
    return [
        queue.enqueue(ConfigBuilder().demo().name(name).method("lora").training(max_steps=200).build()).id
        for name in ("night-lr-1e-4", "night-lr-5e-4")
    ]


def options(description: str, *extra: tuple[str, dict]) -> tuple[argparse.Namespace, list[tuple[int, ...]], Path]:
    """The scripts' options (`--out`, `--size`, and `extra`), the sizes and the folder made; the
    environment made safe for screenshots (no token to show, no Hub to reach)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(REPO / "screenshots"))
    parser.add_argument("--size", action="append", help="WIDTHxHEIGHT (repeatable); default 120x36 and 80x24")
    for flag, settings in extra:
        parser.add_argument(flag, **settings)
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.lower().split("x")) for s in (args.size or ["120x36", "80x24"])]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for secret in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        os.environ.pop(secret, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return args, sizes, out


def main() -> int:
    only = {"choices": ["dpo"], "help": "Shoot only these screens: dpo, the two DPO runs' screens."}
    args, sizes, out = options(__doc__.splitlines()[0], ("--only", only))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A fixed folder rather than a random one, so the paths on screen are the same every time.
    home = Path(tempfile.gettempdir()) / "tuitune-screenshots"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    live = None
    try:
        os.environ["TUITUNE_HOME"] = str(home)
        os.environ["HF_HOME"] = str(home / "hf-home")
        data = home / "workspace" / "data"
        _data_files(data)
        print("building the demo model…", flush=True)
        subprocess.run([sys.executable, "-m", "tuitune.probe.server", "tuitune/demo"], check=True, capture_output=True)
        print("training the runs (a few minutes on a CPU)…", flush=True)
        runs = _train(data) if args.only is None else {}
        dpo_runs = _train_dpo()
        live = _live_run() if args.only is None else None
        os.chdir(home / "workspace")  # the wizard's file picker starts here
        saved = []
        for size in sizes:
            print(f"shooting at {size[0]}x{size[1]}…", flush=True)
            if live is not None:
                saved += asyncio.run(_shoot_all(out, size, runs, live))  # type: ignore[arg-type]
            saved += asyncio.run(_shoot_dpo(out, size, dpo_runs))  # type: ignore[arg-type]
    finally:
        if live is not None:
            from tuitune.engine import launcher
            from tuitune.store import open_store

            run = open_store().get_run(live)
            if run.is_active:
                launcher.cancel(run)
                launcher.wait(live, timeout=120)
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
