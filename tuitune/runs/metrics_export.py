"""A past run's curves from the store, written for other tools: TensorBoard event files or a CSV
table (`tuitune export-metrics`), for runs trained before a tracker was set up.

The store is the source: every metric point (its columns and `extra`) as the run recorded it.
TensorBoard's names are the ones its live integration writes (`train/loss`, `eval/loss`), so an
exported run and a tracked one read alike. Light: the tensorboard package (not torch) is imported
only when writing event files.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from typing_extensions import TypedDict

from tuitune.errors import ExportError
from tuitune.runs import folder as run_folder
from tuitune.runs.files import folder_of
from tuitune.runs.metrics import EVAL_PREFIX
from tuitune.store import MetricPoint, Run, Store

FORMATS = ("tensorboard", "csv")
Format = Literal["tensorboard", "csv"]
# The columns of a metric point that hold measurements, in the order a table shows them.
COLUMNS = ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "gpu_memory_gb", "cpu_memory_gb")
# Our event files end so, so that exporting again replaces them and nothing else in the folder.
EVENT_SUFFIX = ".tuitune-export"


class MetricsExport(TypedDict):
    """`tuitune export-metrics --json`: what was written where."""

    run_id: int
    format: str
    path: str
    points: int  # metric points read from the store
    steps: int  # the steps they cover (a row each in a CSV)
    metrics: list[str]  # the names written


@dataclass(frozen=True)
class _Step:
    step: int
    epoch: float | None
    time: str
    values: dict[str, float]


def default_output(run: Run, to: Format) -> Path:
    """Where an export goes unless told: inside the run's folder."""
    exported = folder_of(run) / "exported"
    return exported / ("tensorboard" if to == "tensorboard" else "metrics.csv")


def export_metrics(run: Run, store: Store, to: str, output: Path | None = None) -> MetricsExport:
    """Write `run`'s curves as `to` (tensorboard: a folder of event files; csv: one file)."""
    if to not in FORMATS:
        raise ExportError(f"Cannot export metrics as {to!r}: use --to tensorboard or --to csv.")
    points = store.metric_points(run.id)
    if not points:
        raise ExportError(f"Run {run.id} has no metric points yet: nothing to export (it logs every logging_steps).")
    fmt: Format = "tensorboard" if to == "tensorboard" else "csv"
    path = (output or default_output(run, fmt)).expanduser().absolute()
    steps = by_step(points)
    names = metric_names(steps)
    with run_folder.writing(path):
        if fmt == "tensorboard":
            _write_tensorboard(path, points)
        else:
            _write_csv(path, steps, names)
    return MetricsExport(run_id=run.id, format=fmt, path=str(path), points=len(points), steps=len(steps), metrics=names)


def point_values(point: MetricPoint) -> dict[str, float]:
    """A point's numbers under the trainer's names (`loss`, `eval_loss`, `rewards/margins`…)."""
    values = {name: getattr(point, name) for name in COLUMNS}
    values.update(point.extra)
    return {name: float(value) for name, value in values.items() if value is not None}


def by_step(points: list[MetricPoint]) -> list[_Step]:
    """One entry per step: a training log and an evaluation at the same step are one row."""
    steps: dict[int, _Step] = {}
    for point in points:
        earlier = steps.get(point.step)
        values = {**(earlier.values if earlier else {}), **point_values(point)}
        epoch = point.epoch if point.epoch is not None else (earlier.epoch if earlier else None)
        steps[point.step] = _Step(point.step, epoch, point.time.isoformat(), values)
    return sorted(steps.values(), key=lambda s: s.step)


def metric_names(steps: list[_Step]) -> list[str]:
    """Every name logged, the point's own columns first, then the rest alphabetically."""
    seen = {name for step in steps for name in step.values}
    return [name for name in COLUMNS if name in seen] + sorted(seen - set(COLUMNS))


def tensorboard_tag(name: str) -> str:
    """The tag transformers' TensorBoard integration gives a logged name."""
    if name.startswith(EVAL_PREFIX):
        return "eval/" + name[len(EVAL_PREFIX) :]
    return "train/" + name


def _write_csv(path: Path, steps: list[_Step], names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "epoch", "time", *names])
        for step in steps:
            row: list[Any] = [step.step, "" if step.epoch is None else step.epoch, step.time]
            row += [step.values.get(name, "") for name in names]
            writer.writerow(row)


def _write_tensorboard(folder: Path, points: list[MetricPoint]) -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise ExportError("TensorBoard is not installed here: pip install tensorboard (or export with --to csv).")
    # tensorboard's own writer and protocol buffers: no torch, no TensorFlow.
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    for earlier in folder.glob(f"events.out.tfevents.*{EVENT_SUFFIX}"):
        earlier.unlink()  # an earlier export of ours: the curves are written again, not twice
    writer = EventFileWriter(str(folder), filename_suffix=EVENT_SUFFIX)
    try:
        for point in points:
            values = point_values(point)
            if point.epoch is not None:
                values["epoch"] = point.epoch  # the live integration logs it as train/epoch
            summary = Summary(value=[Summary.Value(tag=tensorboard_tag(k), simple_value=v) for k, v in values.items()])
            writer.add_event(Event(wall_time=point.time.timestamp(), step=point.step, summary=summary))
    finally:
        writer.close()
