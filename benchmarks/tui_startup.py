"""The app's time to first screen against a bare Textual app, the history with 10,000 runs, the
wizard's probes, and the first visit to each area, against the app as it was before (`--before`).

    .venv/bin/python benchmarks/tui_startup.py [--repeat 5] [--runs 10000] [--before e96c66d] [--write-docs]

1. Time to first screen: a fresh `python` process is started and the time until the first frame
   of its first screen is rendered for the terminal (headless, 80x24) is measured from the parent:
   interpreter start, imports, store, compose, layout, render. Baseline: a bare Textual app (Header, Static, Footer) in the same way.
   Ours twice: a first-time user (empty store: the wizard) and a returning one (the history).
   A frame counts once it shows the screen's content: the wizard's model field, the history's
   table with the store's runs in it (not the empty table drawn before they are read). Every
   process reads compiled bytecode, as an installed package does (a temporary PYTHONPYCACHEPREFIX,
   filled by one untimed start of each case), even where PYTHONDONTWRITEBYTECODE is set.
2. History with 10,000 runs (store filled directly): from creating the app to every row in the
   table, then a filter applied and cleared, and a sort (each with the repaint after it). Baseline: the same rows in Textual's DataTable
   (what a first version would use), which measures every cell when rows are added.

3. The wizard's probes: describing the demo model, and previewing a 1,000-row local alpaca file
   with the demo model's tokenizer. Before: one fresh child process per probe (`python -m
   tuitune.probe.server MODEL`, `tuitune data FILE --json`), each importing the training stack. Now:
   the app's one warm probe process (`tuitune.probe.client`): its start, the time to the preview's
   first rows and to the whole preview of a file it has not seen, and the same file again (cached).
4. First visits: pressing `n` (the wizard) and `t` (the training screen) in the history, until
   the screen has settled (lazy parts mounted), in a fresh process; this tree against the tree of
   `--before COMMIT` (unpacked with `git archive` into a temporary folder).

Runs in temporary TUITUNE_HOMEs; your own store is never touched. `--write-docs` appends (or
replaces) the "TUI" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FIRST_SCREEN = textwrap.dedent(
    """
    import asyncio, sys, time
    from textual.app import App

    # The moment the first frame of a screen with its content goes to the terminal: what a user sees.
    first_frame = []
    display = App._display
    kind = sys.argv[1]

    def shows_content(screen):
        if kind == "wizard":  # step 1 with its field
            return type(screen).__name__ == "WizardScreen" and bool(screen.query("#model-input"))
        if kind == "history":  # the table with the store's runs, not the empty one before they are read
            tables = screen.query("RunTable")
            return type(screen).__name__ == "HistoryScreen" and bool(tables) and tables.first().row_count > 0
        return bool(screen.children)

    def timed_display(self, screen, renderable):
        if renderable is not None and not first_frame and not self._batch_count and shows_content(screen):
            first_frame.append(time.time())
        return display(self, screen, renderable)

    App._display = timed_display
    if kind == "bare":
        from textual.widgets import Footer, Header, Static

        class Bare(App):
            def compose(self):
                yield Header()
                yield Static("hello")
                yield Footer()

        app = Bare()
    else:
        from tuitune.tui.app import create_app

        app = create_app(reconcile_seconds=None)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(3000):  # until the content is drawn (10 s at most)
                if first_frame:
                    break
                await pilot.pause(0.005)
        print(first_frame[0], flush=True)

    asyncio.run(main())
    """
)


def _first_screen_seconds(kind: str, home: Path, pycache: Path) -> float:
    env = {**os.environ, "TUITUNE_HOME": str(home), "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-c", FIRST_SCREEN, kind], capture_output=True, text=True, env=env, check=True
    )
    return float(result.stdout.strip().splitlines()[-1]) - started


def first_screen(repeat: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as empty,
        tempfile.TemporaryDirectory() as with_runs,
        tempfile.TemporaryDirectory() as pycache,
    ):
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from tuitune.store import open_store; from tuitune._dev.sample_runs import populate; populate(open_store())",
            ],
            env={**os.environ, "TUITUNE_HOME": with_runs},
            check=True,
        )
        cases = {
            "bare Textual app": ("bare", empty),
            "tuitune, first time (wizard)": ("wizard", empty),
            "tuitune, with runs (history)": ("history", with_runs),
        }
        for kind, home in cases.values():  # warm the OS file cache and compile the bytecode, untimed
            _first_screen_seconds(kind, Path(home), Path(pycache))
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeat):  # alternated, so a busy moment of the machine weighs on all three alike
            for name, (kind, home) in cases.items():
                times[name].append(_first_screen_seconds(kind, Path(home), Path(pycache)))
        return {name: statistics.median(seconds) for name, seconds in times.items()}


def fill(count: int) -> None:
    """`count` finished runs inserted straight into the store's table (seconds, not minutes)."""
    from tuitune.config import ConfigBuilder
    from tuitune.store import open_store
    from tuitune.store.clock import now
    from tuitune.store.db import database
    from tuitune.store.tables import RunRow

    open_store()
    config = json.dumps(ConfigBuilder().demo().build().to_dict())
    start = now() - count
    statuses = ("completed", "completed", "failed", "cancelled", "completed")
    rows = [
        dict(
            name=f"sweep-{i:05d}",
            status=statuses[i % 5],
            method="lora",
            model=f"org/model-{i % 7}",
            dataset="tuitune/sample",
            config=config,
            output_dir=f"/runs/{i}",
            host="gpu-box",
            created_at=start + i,
            started_at=start + i,
            finished_at=start + i + 60,
            steps_done=100 + i % 900,
            steps_total=1000,
            epoch=3.0,
            last_loss=1.0 + (i % 97) / 50,
            best_eval_loss=1.1 + (i % 89) / 50,
            cancel_requested=False,
            version="0.1.0",
        )
        for i in range(count)
    ]
    with database.atomic():
        for first in range(0, count, 500):
            RunRow.insert_many(rows[first : first + 500]).execute()


async def _timed(pilot, action, repeat: int = 3) -> float:
    """Median seconds for `action()` plus the repaint after it (the same pause for both tables)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        if hasattr(result, "__await__"):
            await result
        await pilot.pause()
        times.append(time.perf_counter() - started)
        await pilot.pause()
    return statistics.median(times)


async def _history(count: int) -> dict[str, float]:
    from tuitune._dev.pilot import wait_until
    from tuitune.tui.app import create_app

    started = time.perf_counter()  # app start included, as for the baseline
    app = create_app(mode="history", reconcile_seconds=None)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.table
        await wait_until(pilot, lambda: table.total_count == count, timeout=300, what="all rows")
        loaded = time.perf_counter() - started

        def filter_then_clear() -> None:
            table.set_filter("sweep-0004")
            table.set_filter("")

        filtered = await _timed(pilot, filter_then_clear)
        sorted_ = await _timed(pilot, lambda: table.sort_by("loss"))
    return {"load": loaded, "filter": filtered, "sort": sorted_}


async def _datatable(count: int) -> dict[str, float]:
    """The baseline: the same rows in a Textual DataTable, waiting until it has measured them."""
    from textual.app import App
    from textual.widgets import DataTable

    from tuitune.store import open_store
    from tuitune.tui.screens.history import COLUMNS, history_row

    class Baseline(App):
        def compose(self):
            yield DataTable()

    started = time.perf_counter()
    app = Baseline()
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.query_one(DataTable)
        table.add_columns(*[column.label for column in COLUMNS])

        async def show(rows) -> None:
            table.clear()
            table.add_rows([row.cells for row in rows])
            while table._require_update_dimensions or table._new_rows:
                await pilot.pause()

        runs = open_store().list_runs()
        scores = open_store().latest_scores()
        rows = [history_row(run, scores.get(run.id)) for run in runs]
        await show(rows)
        loaded = time.perf_counter() - started

        async def filter_then_clear() -> None:
            # A DataTable has no filter: the rows that match replace the table, then all return.
            await show([row for row in rows if "sweep-0004" in row.search_text])
            await show(rows)

        filtered = await _timed(pilot, filter_then_clear)
        sorted_ = await _timed(pilot, lambda: table.sort(table.ordered_columns[5].key))
    return {"load": loaded, "filter": filtered, "sort": sorted_}


def history(count: int) -> dict[str, dict[str, float]]:
    import asyncio

    with tempfile.TemporaryDirectory() as home:
        os.environ["TUITUNE_HOME"] = home
        fill(count)
        ours = asyncio.run(_history(count))
        baseline = asyncio.run(_datatable(count))
    return {"ours": ours, "baseline": baseline}


# --- 3. the wizard's probes ------------------------------------------------------------------
def _rows_file(folder: Path, count: int = 1000) -> Path:
    from tuitune._dev.sample_data import alpaca_rows

    path = folder / f"rows-{count}.jsonl"
    path.unlink(missing_ok=True)  # a fresh file of exactly `count` rows
    return alpaca_rows(path, count)


def _child_seconds(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, capture_output=True, env=env, check=True)
    return time.perf_counter() - started


def probes(repeat: int) -> dict[str, float]:
    """Seconds for each way of probing (medians of `repeat`), in a home with the demo model built."""
    from tuitune.probe.client import ProbeClient

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TUITUNE_HOME": home, "HF_HUB_OFFLINE": "1"}
        os.environ.update(TUITUNE_HOME=home, HF_HUB_OFFLINE="1")
        _child_seconds(
            [sys.executable, "-m", "tuitune.probe.server", "tuitune/demo"], env
        )  # builds the demo model once
        rows = [_rows_file(Path(home), 1000 + i) for i in range(repeat)]  # a file the helper has not seen, each time
        results = {
            "model, one child per probe (before)": statistics.median(
                _child_seconds([sys.executable, "-m", "tuitune.probe.server", "tuitune/demo"], env)
                for _ in range(repeat)
            ),
            "preview, one child per probe (before)": statistics.median(
                _child_seconds(
                    [sys.executable, "-m", "tuitune", "data", str(rows[0]), "--json", "--model", "tuitune/demo"], env
                )
                for _ in range(repeat)
            ),
        }
        helper = ProbeClient()
        try:
            started = time.perf_counter()
            helper.request("model", {"name": "tuitune/demo"})
            results["model, helper's first probe (start included)"] = time.perf_counter() - started
            helper.stop()
            helper = ProbeClient()
            helper.request("data", {"source": str(_rows_file(Path(home), 10))})  # warm: its first preview is done
            firsts, wholes, again = [], [], []
            for path in rows:
                started = time.perf_counter()
                helper.request(
                    "data",
                    {"source": str(path)},
                    on_partial=lambda _rows, t=started: firsts.append(time.perf_counter() - t),
                )
                wholes.append(time.perf_counter() - started)
                started = time.perf_counter()
                helper.request("data", {"source": str(path)})
                again.append(time.perf_counter() - started)
            results["preview, warm helper: first rows"] = statistics.median(firsts)
            results["preview, warm helper: whole preview"] = statistics.median(wholes)
            results["preview, warm helper: same file again (cached)"] = statistics.median(again)
        finally:
            helper.stop()
    return results


# --- 4. first visits --------------------------------------------------------------------------
FIRST_VISITS = textwrap.dedent(
    """
    import asyncio, json, time
    from tuitune.store import open_store
    from tuitune.tui.app import create_app
    from tuitune._dev.sample_runs import populate

    populate(open_store())

    async def visit(key, screen):
        app = create_app(reconcile_seconds=None)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            started = time.perf_counter()
            await pilot.press(key)
            while type(app.screen).__name__ != screen:
                await pilot.pause(0.01)
            await pilot.pause()  # settled: lazily mounted parts included
            return time.perf_counter() - started

    async def main():
        print(json.dumps({"wizard": await visit("n", "WizardScreen"), "training": await visit("t", "TrainingScreen")}))

    asyncio.run(main())
    """
)


def _visits_in(tree: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TUITUNE_HOME": home}
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        result = subprocess.run(
            [sys.executable, "-c", FIRST_VISITS],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(tree or REPO),
            check=True,
            timeout=600,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def first_visits(repeat: int, before: str) -> dict[str, dict[str, float]]:
    """Median first-visit seconds, now and at commit `before`."""
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", before], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        runs: dict[str, list[dict[str, float]]] = {"now": [], "before": []}
        for _ in range(repeat):  # alternated, so a busy moment of the machine weighs on both alike
            runs["now"].append(_visits_in(None))
            runs["before"].append(_visits_in(Path(old)))
    return {
        which: {area: statistics.median(r[area] for r in results) for area in ("wizard", "training")}
        for which, results in runs.items()
    }


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def report(
    starts: dict[str, float],
    table: dict[str, dict[str, float]],
    count: int,
    repeat: int,
    probe_times: dict[str, float] | None = None,
    visits: dict[str, dict[str, float]] | None = None,
    before: str = "",
) -> str:
    bare = starts["bare Textual app"]
    lines = [
        "## TUI",
        "",
        f"`benchmarks/tui_startup.py` on {_machine()} (medians of {repeat} fresh processes).",
        "",
        "Time to first screen, from starting `python` to the first frame of the first screen with its content",
        "(80x24, headless): the wizard's model field, the history's table with the store's runs; every process",
        "reads compiled bytecode, as an installed tuitune does:",
        "",
        "| app | first screen | vs bare Textual |",
        "| --- | ---: | ---: |",
    ]
    for name, seconds in starts.items():
        lines.append(f"| {name} | {seconds * 1000:.0f} ms | {seconds / bare:.2f}x |")
    ours, baseline = table["ours"], table["baseline"]
    lines += [
        "",
        f"History with {count:,} runs (store filled directly): tuitune's virtual `RunTable` against the",
        "same rows in Textual's `DataTable`, which measures every cell as rows are added (each figure",
        "includes the repaint after it; opening includes starting the app and reading the store):",
        "",
        "| step | tuitune | DataTable | speed-up |",
        "| --- | ---: | ---: | ---: |",
    ]
    for step, label in (
        ("load", "open the history: every run in the table"),
        ("filter", "filter, then clear the filter"),
        ("sort", "sort by loss"),
    ):
        lines.append(
            f"| {label} | {ours[step] * 1000:.0f} ms | {baseline[step] * 1000:.0f} ms | {baseline[step] / max(ours[step], 1e-9):.1f}x |"
        )
    if probe_times:
        model_before = probe_times["model, one child per probe (before)"]
        preview_before = probe_times["preview, one child per probe (before)"]
        lines += [
            "",
            "The wizard's probes (the demo model; a 1,000-row local alpaca file, demo tokenizer). Before, each",
            "probe was a fresh child process importing the training stack; now one warm helper answers them:",
            "",
            "| probe | time | vs before |",
            "| --- | ---: | ---: |",
        ]
        for name, seconds in probe_times.items():
            baseline_seconds = model_before if name.startswith("model") else preview_before
            lines.append(f"| {name} | {seconds * 1000:.0f} ms | {baseline_seconds / max(seconds, 1e-9):.1f}x faster |")
    if visits:
        lines += [
            "",
            f"First visit from the history, until the screen has settled (this tree against `{before}`):",
            "",
            "| area | now | before | speed-up |",
            "| --- | ---: | ---: | ---: |",
        ]
        for area, key in (("wizard (`n`)", "wizard"), ("training screen (`t`)", "training")):
            now, old = visits["now"][key], visits["before"][key]
            lines.append(f"| {area} | {now * 1000:.0f} ms | {old * 1000:.0f} ms | {old / max(now, 1e-9):.2f}x |")
    lines.append("")
    return "\n".join(lines)


def write_docs(section: str) -> Path:
    """Replace the TUI section of docs/benchmarks.md (or append it), leaving the others alone."""
    path = REPO / "docs" / "benchmarks.md"
    path.parent.mkdir(exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find("\n## TUI\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end != -1 else "")
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path


def _print_starts(starts: dict[str, float]) -> None:
    bare = starts["bare Textual app"]
    for name, seconds in starts.items():
        print(f"first screen  {name:32s} {seconds * 1000:7.0f} ms  ({seconds / bare:.2f}x bare)")


def _print_history(table: dict[str, dict[str, float]], runs: int) -> None:
    for step in ("load", "filter", "sort"):
        ours, base = table["ours"][step], table["baseline"][step]
        print(
            f"history {runs:,} runs  {step:6s}  tuitune {ours * 1000:7.0f} ms   DataTable {base * 1000:7.0f} ms   ({base / max(ours, 1e-9):.1f}x)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--before", default="e96c66d", help="The commit to compare first visits with.")
    parser.add_argument(
        "--only",
        choices=("startup", "history", "probes", "visits"),
        action="append",
        help="Run only these parts (repeatable); default: all.",
    )
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    only = set(args.only or ("startup", "history", "probes", "visits"))
    if only != {"startup", "history", "probes", "visits"}:
        if "startup" in only:
            _print_starts(first_screen(args.repeat))
        if "history" in only:
            _print_history(history(args.runs), args.runs)
        if "probes" in only:
            for name, seconds in probes(args.repeat).items():
                print(f"probe  {name:48s} {seconds * 1000:7.0f} ms")
        if "visits" in only:
            visits = first_visits(args.repeat, args.before)
            for area in ("wizard", "training"):
                now, old = visits["now"][area], visits["before"][area]
                print(
                    f"first visit  {area:10s} now {now * 1000:6.0f} ms   before ({args.before}) {old * 1000:6.0f} ms   ({old / max(now, 1e-9):.2f}x)"
                )
        return 0
    starts = first_screen(args.repeat)
    _print_starts(starts)
    table = history(args.runs)
    _print_history(table, args.runs)
    probe_times = probes(args.repeat)
    for name, seconds in probe_times.items():
        print(f"probe  {name:48s} {seconds * 1000:7.0f} ms")
    visits = first_visits(args.repeat, args.before)
    for area in ("wizard", "training"):
        now, old = visits["now"][area], visits["before"][area]
        print(
            f"first visit  {area:10s} now {now * 1000:6.0f} ms   before ({args.before}) {old * 1000:6.0f} ms   ({old / max(now, 1e-9):.2f}x)"
        )
    section = report(starts, table, args.runs, args.repeat, probe_times, visits, args.before)
    if args.write_docs:
        print(f"wrote {write_docs(section)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
