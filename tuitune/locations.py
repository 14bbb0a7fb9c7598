"""What a configuration field's text names: a file or folder here, a model, a dataset, a network
address; and the switches that run code the configuration points at.

Each such field of the run configuration is declared with one of the types below, so a network
face checks them all by walking the model (`named_locations`, `code_switches`) instead of a list of
fields someone remembered: a field added later is covered the day it is declared. None of them is
ever a URL but one, `WebhookUrl`: tuitune reads local files and the Hugging Face Hub, and fetches
nothing a config names; the one URL it sends to is where the user asked to hear that a run ended.
Nothing here imports torch.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel

# `datasets`' packaged builders: `data.source: json` with `data.data_files` reads those files.
DATASET_BUILDERS = frozenset({"json", "csv", "text", "parquet", "arrow", "pandas", "xml", "webdataset"})

# The data files tuitune reads (tuitune.data.sources parses them by suffix); declared here, in a light
# module, so a face that lists files to pick from (the dashboard's form) reads the same list.
DATA_FILE_SUFFIXES: tuple[str, ...] = (".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".txt")

# `scheme://…` (http, https, ftp, s3, hf, file, …): fsspec and datasets would fetch any of them.
_URL = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*://")


class Names(enum.Enum):
    """The kinds of place a field names."""

    LOCAL_PATH = "a file or folder on this machine"
    MODEL = "a model: a local folder or a Hugging Face model id"
    DATASET = "a dataset: a local file or folder, a Hugging Face dataset id, or a datasets builder (json, csv, …)"
    DATASET_FILES = "files of the dataset: paths on this machine, or files inside a Hub dataset"
    ADDRESS = "a network address this machine connects to"
    WEBHOOK = "a URL this machine sends a message to when a run ends"


@dataclass(frozen=True)
class Location:
    """Marks a text field as naming a place of kind `names`."""

    names: Names


@dataclass(frozen=True)
class RunsCode:
    """Marks a field that, when `on(value)`, runs code the configuration points at."""

    what: str
    on: Callable[[Any], bool]


def _not_a_url(value: str) -> str:
    if _URL.match(value):
        raise ValueError(
            "is a URL, and tuitune fetches no URL a configuration names: download the file and give its local "
            "path, or give a Hugging Face id"
        )
    return value


LocalPath = Annotated[str, Location(Names.LOCAL_PATH), AfterValidator(_not_a_url)]
ModelName = Annotated[str, Location(Names.MODEL), AfterValidator(_not_a_url)]
DatasetName = Annotated[str, Location(Names.DATASET), AfterValidator(_not_a_url)]
DatasetFile = Annotated[str, Location(Names.DATASET_FILES), AfterValidator(_not_a_url)]
NetworkAddress = Annotated[str, Location(Names.ADDRESS), AfterValidator(_not_a_url)]

_WEBHOOK = re.compile(r"^https?://[^\s/?#@]*@?[^\s/?#@]+(?:[/?#]\S*)?$", re.IGNORECASE)


def check_webhook_url(value: str) -> str:
    """`value` if it is a URL a message can be POSTed to, else ValueError (in words without the URL)."""
    if not _WEBHOOK.match(value):
        raise ValueError("must be an http:// or https:// URL (https://hooks.slack.com/…, https://ntfy.sh/topic)")
    return value


WebhookUrl = Annotated[str, Location(Names.WEBHOOK), AfterValidator(check_webhook_url)]


def redact_url(text: str) -> str:
    """A URL as it may be shown: scheme and host only (`https://hooks.slack.com/…`). A webhook's path,
    query and user part are its password (Slack's and ntfy's both are), so no event, log line,
    error or output ever holds them."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is no number: nothing of it is safe to show
        return "a URL (hidden)"
    if not parts.scheme or not host:
        return "a URL (hidden)"
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc
    return f"{parts.scheme.lower()}://{host}{port}{'/…' if hidden else ''}"


def looks_like_url(value: object) -> bool:
    """Whether `value` is text that starts like a URL (`scheme://…`)."""
    return isinstance(value, str) and bool(_URL.match(value))


@dataclass(frozen=True)
class Named:
    """One place a configuration names: its dotted key, what kind of place, the text."""

    key: str
    names: Names
    value: str


def _markers(annotation: Any, kind: type) -> list[Any]:
    """The `kind` markers anywhere in an annotation (inside Optional, Union and list too)."""
    found = []
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        found += [extra for extra in extras if isinstance(extra, kind)]
        found += _markers(base, kind)
    elif get_origin(annotation) in (Union, UnionType, list, tuple, set):
        for arg in get_args(annotation):
            found += _markers(arg, kind)
    return list(dict.fromkeys(found))  # `str | list[str]` marks both arms: one marker


def _fields(model: BaseModel, prefix: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, field annotation with its metadata, value) of every field, sections included."""
    for name, field in type(model).model_fields.items():
        key = f"{prefix}{name}"
        value = getattr(model, name)
        yield key, _annotation(field), value


def _annotation(field: Any) -> Any:
    """A pydantic field's type with the metadata pydantic moved out of its `Annotated` (markers included)."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def named_locations(model: BaseModel, prefix: str = "") -> Iterator[Named]:
    """Every place `model` names, in every section and list of sections, however deep."""
    for key, annotation, value in _fields(model, prefix):
        for index, part in _sections(value):
            yield from named_locations(part, f"{key}{index}.")
        for marker in _markers(annotation, Location):
            for text in _texts(value):
                yield Named(key, marker.names, text)


def code_switches(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, what it runs) of every switch in `model` that is set to run code."""
    for key, annotation, value in _fields(model, prefix):
        for index, part in _sections(value):
            yield from code_switches(part, f"{key}{index}.")
        for marker in _markers(annotation, RunsCode):
            if marker.on(value):
                yield key, marker.what


def declared(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, annotation) of every leaf field of a model class, sections walked: what a test
    reads to see that every text field is classified."""
    for name, field in model.model_fields.items():
        annotation = _annotation(field)
        section = _section_class(field.annotation)
        if section is not None:
            yield from declared(section, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", annotation


def _section_class(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _sections(value: Any) -> Iterator[tuple[str, BaseModel]]:
    if isinstance(value, BaseModel):
        yield "", value
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, BaseModel):
                yield f".{index}", item
