"""Rows (tuples straight from SQLite) into records, and values into columns.

Selecting named columns as tuples instead of peewee model instances is what keeps listing ten
thousand runs fast. Each record's column list is derived from its dataclass fields (a field reads
the column of its name, or the one its metadata names, `run_id` the run's foreign key), and each
value is converted by the field's type, so a field added to a record and its table is read with
nothing else to keep in step.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from peewee import Field, Model

from tuitune.store.clock import moment, to_datetime
from tuitune.store.records import COLUMN, Artifact, Evaluation, Event, MetricPoint, Run
from tuitune.store.tables import ArtifactRow, EvaluationRow, EventRow, MetricPointRow, RunRow

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")  # a record


class Reading(Generic[R]):
    """The columns a record is read from, in its fields' order, and how a row becomes the record."""

    def __init__(self, record: type[R], table: type[Model]) -> None:
        hints = typing.get_type_hints(record)
        every = dataclasses.fields(record)
        stored = [item for item in every if item.metadata.get(COLUMN, item.name) is not None]
        # Passed by position (the fastest call): the fields the store works out come last.
        if list(every[: len(stored)]) != stored:
            raise TypeError(f"{record.__name__}: the fields the store works out must come after the stored ones")
        self.record = record
        self.columns: tuple[Field, ...] = tuple(_column(table, item.metadata.get(COLUMN, item.name)) for item in stored)
        self._converts = [
            (index, convert) for index, item in enumerate(stored) if (convert := _converter(hints[item.name]))
        ]

    def __call__(self, row: tuple[Any, ...]) -> R:
        values = list(row)
        for index, convert in self._converts:
            values[index] = convert(values[index])
        return self.record(*values)


def _column(table: type[Model], name: str) -> Field:
    """The table's column `name` (`run_id` is the foreign key peewee calls `run`)."""
    columns: dict[str, Field] = table._meta.columns
    if name not in columns:
        raise LookupError(f"{table.__name__} has no column {name!r} for its record's field")
    return columns[name]


def _converter(hint: Any) -> Callable[[Any], Any] | None:
    """How a stored value becomes a field of type `hint` (None: as it is)."""
    if hint is datetime:
        return moment
    if hint == datetime | None:
        return to_datetime
    if hint is bool:
        return bool
    origin = typing.get_origin(hint)
    if origin is dict:
        return _json_dict  # JSON text columns
    if origin is list:
        return _json_list
    return None


def _json_dict(text: str | None) -> Any:
    return from_json(text, {})


def _json_list(text: str | None) -> Any:
    return from_json(text, [])


RUNS = Reading(Run, RunRow)
METRIC_POINTS = Reading(MetricPoint, MetricPointRow)
EVENTS = Reading(Event, EventRow)
EVALUATIONS = Reading(Evaluation, EvaluationRow)
ARTIFACTS = Reading(Artifact, ArtifactRow)

RUN_COLUMNS, run_record = RUNS.columns, RUNS
METRIC_COLUMNS, metric_record = METRIC_POINTS.columns, METRIC_POINTS
EVENT_COLUMNS, event_record = EVENTS.columns, EVENTS
EVALUATION_COLUMNS, evaluation_record = EVALUATIONS.columns, EVALUATIONS
ARTIFACT_COLUMNS, artifact_record = ARTIFACTS.columns, ARTIFACTS


def to_json(value: Any) -> str:
    # default=str: a Path or datetime inside a config or meta dict is stored as its text rather
    # than failing the whole write.
    return json.dumps(value, ensure_ascii=False, default=str)


def from_json(text: str | None, empty: Any) -> Any:
    if not text:
        return empty
    return json.loads(text)
