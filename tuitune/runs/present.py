"""How runs look to people, for every face (the CLI, the terminal app, the service's pages):
statuses and their colours, numbers, durations, times, run labels, and user text shown safely.

User text (names, errors, paths, samples) is printed as it is, never as markup (rich/Textual)
and never as terminal control sequences. Light: no torch, no textual.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from tuitune.runs.metrics import KeyCurve, objective_of
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, QUEUED, RUNNING, Run

# User text is shown through `literal` (control characters escaped); it lives with the other
# user-text helpers and is offered here too, beside the rest of what faces print.
from tuitune.text.user_text import has_control_characters as has_control_characters
from tuitune.text.user_text import literal as literal


def literal_text(value: object, style: str = "") -> Text:
    """User or model text (a name, a path, a sample, a chat answer) as a `Text` to draw: never read
    as markup, and its control characters shown as escapes (`\\x1d`) instead of reaching the
    terminal, or an SVG screenshot, as they are. Every face draws such text through this."""
    return Text(literal(value), style=style)


class KeepEnd:
    """A path or an id drawn in a table cell: when the cell is narrower it keeps its end
    (`…/checkpoints/checkpoint-40`), so two long paths never read the same, as the rule on every
    screen says (a path or a model id keeps its end, a name its start). A rich renderable: it
    is cut to the width the table gives it, whatever the terminal's."""

    def __init__(self, value: object, style: str = "") -> None:
        self.text = literal(value)
        self.style = style

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(len(self.text), 12), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(short_model(self.text, max(2, options.max_width)), style=self.style, no_wrap=True)


# One colour per status, the same on every screen (history table, training header, detail).
STATUS_STYLES: dict[str, str] = {
    QUEUED: "bold yellow",
    RUNNING: "bold cyan",
    COMPLETED: "bold green",
    FAILED: "bold red",
    CANCELLED: "bold magenta",
    CRASHED: "bold red reverse",
}


# What a chat pane's model is called on screen, by what the chat child loads.
MODEL_LABELS: dict[str, str] = {"finetuned": "fine-tuned", "base": "base", "merged": "merged"}


def status_text(status: str) -> Text:
    """A run status in its colour."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def queue_status(run: Run, place: tuple[int, int] | None) -> str:
    """A run's status as the history shows it: `queued 2/5` while it waits in line, `starting`
    once claimed (queued, no place), else the status itself."""
    if run.status == QUEUED:
        if run.in_queue:
            return f"queued {place[0]}/{place[1]}" if place else "queued"
        if run.on_slurm and run.slurm.get("state") in ("PENDING", "REQUEUED", None):
            return "pending"  # in SLURM's queue (`tuitune show` says why)
        return "starting"
    return run.status


def started_line(run: Run, verb: str = "Started") -> str:
    """What a command that started a run in the background says: its worker's pid, or its SLURM job."""
    if run.on_slurm:
        submitted = "Submitted" if verb == "Started" else verb
        return (
            f"{submitted} run {run.id} ({run.name}) as SLURM job {run.slurm.get('job_id')}: SLURM starts it when "
            f"the cluster has room (`tuitune show {run.id}` says why it waits)."
        )
    return f"{verb} run {run.id} ({run.name}) in the background, pid {run.pid}."


def queue_place(place: tuple[int, int]) -> str:
    """`queued, position 2 of 3 (waiting for a free slot)`."""
    return f"queued, position {place[0]} of {place[1]} (waiting for a free slot)"


# More than one process or machine asked for, in a stored config's JSON text.
_SEVERAL = re.compile(r'"(?:nproc|nnodes)":\s*(?:[2-9]|[1-9]\d+)')


def process_group(run: Run) -> tuple[int, str] | None:
    """(processes, strategy) of a run trained by a group of processes; None for a single process.

    The engine's rule (tuitune.engine.group.world_size), read from the stored config without
    parsing it: nproc as asked, else one per GPU given to the run, times the machines.
    """
    given = [gpu for gpu in (run.devices or run.gpus or "").split(",") if gpu]
    if len(given) <= 1 and not _SEVERAL.search(run.config_json):
        return None  # the history asks for every run: most are single processes, never parse those
    distributed = run.config.get("distributed") or {}
    nproc = distributed.get("nproc") or max(1, len(given))
    world = int(nproc) * int(distributed.get("nnodes") or 1)
    if world <= 1:
        return None
    strategy = distributed.get("strategy") or "auto"
    return world, "ddp" if strategy == "auto" else strategy


# The config's objective, a top-level key of its JSON text (a user's text inside the config that
# spells the same is escaped there, `\"objective\"`, so it never matches).
_OBJECTIVE = re.compile(r'"objective":\s*"([a-z_]+)"')


def objective(run: Run) -> str:
    """The run's objective (sft for runs from before objectives), read from its stored config's
    text without parsing it: the history shows every run's, and most configs are never parsed."""
    if '"objective"' not in run.config_json:
        return objective_of({})  # no objective in it: sft
    found = _OBJECTIVE.search(run.config_json)
    return found.group(1) if found else objective_of(run.config)


def method_label(run: Run, method: str | None = None) -> str:
    """`lora`, or `lora · dpo` for a run whose objective is not sft (what the history's method
    column and other narrow places show); `method`: the word to show for the run's method."""
    method = method or run.method
    learns = objective(run)
    return method if learns == "sft" else f"{method} · {learns}"


def key_values(curves: tuple[KeyCurve, ...], values: dict[str, float | None]) -> str:
    """`reward margin 0.3121 · reward accuracy 75%`: the last value of each key curve (`–` where
    none was logged); empty for an objective without key curves."""
    shown = []
    for curve in curves:
        value = values.get(curve.key)
        shown.append(f"{curve.label} {curve.show(value) if value is not None else '–'}")
    return " · ".join(shown)


def artifact_kind(kind: str, meta: dict[str, object]) -> str:
    """An artifact's kind in words; a tracker's names which one (`tracker tensorboard`)."""
    if kind == "tracker" and meta.get("tracker"):
        return f"tracker {meta['tracker']}"
    return kind


def group_label(run: Run) -> str:
    """`4×ddp` for a group run, empty for a single process."""
    group = process_group(run)
    return f"{group[0]}×{group[1]}" if group else ""


def number(value: float | int | None, digits: int = 4) -> str:
    """A loss or a score: `0.4312`, `1.2e-05`, `–` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}f}"


def plural(amount: int, noun: str) -> str:
    """`1 run`, `2 runs`, `1,024 steps`."""
    return f"{amount:,} {noun}" + ("" if amount == 1 else "s")


def latest_train_loss(run: Run) -> float | None:
    """The train loss to show: the last logged one while a run trains (the saved final one is from
    an earlier session after a resume), the final one once it has finished."""
    if run.is_active or run.train_loss is None:
        return run.last_loss
    return run.train_loss


def count(value: int | float | None) -> str:
    """A parameter or token count: `912.5K`, `1.24B`."""
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def duration(seconds: float | None) -> str:
    """`42s`, `3m 05s`, `2h 14m`, `–`."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def moment(value: datetime | None) -> str:
    """A run's start time in the viewer's local time: `2025-03-14 09:26`."""
    if value is None:
        return "–"
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def short_moment(value: datetime | None) -> str:
    """A moment in a narrow table, in the viewer's local time: `03-14 09:26`."""
    if value is None:
        return "–"
    return value.astimezone().strftime("%m-%d %H:%M")


def clock_time(value: datetime) -> str:
    """A moment of today in the viewer's local time: `09:26:14`."""
    return value.astimezone().strftime("%H:%M:%S")


def gigabytes(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} GB"


def short_model(name: str, width: int = 28) -> str:
    """A model or dataset id shortened from the left, where the least telling part is.

    `Qwen/Qwen2.5-0.5B-Instruct` loses its owner first; a long path keeps its end.
    """
    if len(name) <= width:
        return name
    _, _, rest = name.partition("/")
    if rest and "/" not in rest and not name.startswith((".", "~")) and len(rest) <= width:
        return rest
    return "…" + name[-(width - 1) :]
