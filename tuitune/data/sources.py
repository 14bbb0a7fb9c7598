"""Read a dataset's rows from wherever they live: local files, a local dataset folder, the Hub.

Everything comes back as a `RecordTable` of plain dicts, whatever the source, so format
detection never cares where the rows came from. Local text files are parsed here rather than by
`datasets`, because a user with a broken file needs the file name and line number, which the
`datasets` builders do not give.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuitune.config import SAMPLE_DATASET
from tuitune.errors import DataError, DatasetNotFoundError, EmptyDatasetError, MalformedDataError

FILE_SUFFIXES: tuple[str, ...] = (".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".txt")
# Keys under which a JSON object commonly nests its list of records.
_NESTING_KEYS = ("data", "train", "rows", "records", "examples", "instances", "items")


@dataclass
class RecordTable:
    """The rows of one dataset split, as plain dicts, with where they came from."""

    records: list[dict[str, Any]]
    columns: list[str]
    origin: str
    kind: str  # json, jsonl, csv, tsv, parquet, txt, disk, hub, sample
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)


def sample_dataset_path() -> Path:
    """The bundled sample dataset (`tuitune/sample`), as a file on disk."""
    from importlib.resources import files

    return Path(str(files("tuitune.data").joinpath("sample", "sample.jsonl")))


def read_source(
    source: str | Path,
    *,
    hub_config: str | None = None,
    split: str = "train",
    data_files: str | list[str] | None = None,
) -> RecordTable:
    """All rows of a local file, a local dataset folder, `tuitune/sample`, or a Hub dataset split."""
    text = str(source)
    if text == SAMPLE_DATASET:
        table = read_file(sample_dataset_path())
        table.origin, table.kind = SAMPLE_DATASET, "sample"
        return table
    path = Path(text).expanduser()
    if path.is_file():
        return read_file(path)
    if path.is_dir():
        return read_folder(path, hub_config=hub_config, split=split, data_files=data_files)
    if _looks_like_path(text):
        raise DatasetNotFoundError(f"{text} does not exist: check the path (or give a Hugging Face dataset id).")
    return read_hub(text, hub_config=hub_config, split=split, data_files=data_files)


def _looks_like_path(text: str) -> bool:
    return (
        Path(text).suffix.lower() in FILE_SUFFIXES
        or text.startswith(("/", "./", "../", "~", "."))
        or "\\" in text
        or text.count("/") > 1
    )


# --- local files ---------------------------------------------------------------------------
def read_file(path: Path) -> RecordTable:
    """One local data file; the suffix says how to parse it."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        records = _read_parquet(path)
    else:
        if suffix not in FILE_SUFFIXES:
            raise DataError(
                f"{path} has an unsupported file type {suffix or '(none)'}: "
                f"use one of {', '.join(FILE_SUFFIXES)}, or a dataset folder."
            )
        content = _read_text(path)
        if not content.strip():
            raise EmptyDatasetError(f"{path} is empty: add some rows to it.")
        if suffix == ".json":
            records = _parse_json(content, path)
        elif suffix in (".jsonl", ".ndjson"):
            records = _parse_jsonl(content, path)
        elif suffix in (".csv", ".tsv"):
            records = _parse_delimited(content, path, "\t" if suffix == ".tsv" else ",")
        else:
            records = _parse_txt(content)
    if not records:
        raise EmptyDatasetError(f"{path} holds no rows: add some rows to it.")
    kind = "jsonl" if suffix == ".ndjson" else suffix.lstrip(".")
    return RecordTable(records, _columns(records), str(path), kind)


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        # utf-8-sig: files saved by Excel and Notepad start with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedDataError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): re-save it with UTF-8 encoding."
        ) from None


def _parse_json(content: str, path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise MalformedDataError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg}); fix the file.") from None
    return _records_from_json(data, path)


def _records_from_json(data: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [_as_record(item, path, f"item {i + 1}") for i, item in enumerate(data)]
    if not isinstance(data, dict):
        raise MalformedDataError(f"{path} holds a JSON {type(data).__name__}: it must be a list of records.")
    nested = [k for k, v in data.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
    if nested:
        key = next((k for k in _NESTING_KEYS if k in nested), nested[0])
        return [_as_record(item, path, f"{key}[{i}]") for i, item in enumerate(data[key])]
    values = list(data.values())
    if values and all(isinstance(v, list) for v in values):
        # A dict of columns, as `Dataset.to_dict()` writes it.
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise MalformedDataError(f"{path} holds columns of different lengths: every column needs one value per row.")
        return [dict(zip(data.keys(), row)) for row in zip(*values)]
    if values and all(isinstance(v, dict) for v in values):
        return list(values)  # records keyed by id
    if not data:
        return []
    return [data]  # a single record


def _as_record(item: Any, path: Path, where: str) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    if isinstance(item, str):
        return {"text": item}
    raise MalformedDataError(f"{path} {where} is a JSON {type(item).__name__}, not an object: every row must be an object.")


def _parse_jsonl(content: str, path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedDataError(f"{path} line {number}: invalid JSON ({exc.msg}); fix or remove that line.") from None
        records.append(_as_record(item, path, f"line {number}"))
    return records


def _parse_delimited(content: str, path: Path, delimiter: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [name.strip() for name in header]
        records = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                raise MalformedDataError(
                    f"{path} line {reader.line_num}: {len(row)} fields but the header has {len(header)}; "
                    "quote values that contain the delimiter."
                )
            records.append({name: (row[i] if i < len(row) else None) for i, name in enumerate(header)})
    except csv.Error as exc:
        raise MalformedDataError(f"{path} line {reader.line_num}: {exc}; fix the file.") from None
    return records


def _parse_txt(content: str) -> list[dict[str, Any]]:
    # One document per block of lines separated by blank lines.
    blocks = re.split(r"\n\s*\n", content.replace("\r\n", "\n"))
    return [{"text": block.strip()} for block in blocks if block.strip()]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise MalformedDataError(f"{path} is not a readable Parquet file ({exc}); re-export it.") from None


def _columns(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


# --- dataset folders and the Hub -----------------------------------------------------------
def read_folder(
    path: Path, *, hub_config: str | None, split: str, data_files: str | list[str] | None
) -> RecordTable:
    """A folder written by `save_to_disk`, or laid out like a Hub dataset repository."""
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        from datasets import load_from_disk

        try:
            loaded = load_from_disk(str(path))
        except Exception as exc:
            raise MalformedDataError(f"{path} looks like a saved dataset but cannot be loaded ({exc}).") from None
        dataset = _pick_split(loaded, split, str(path))
        return _table_from_dataset(dataset, str(path), "disk")
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES + (".arrow",)]
    if not files and data_files is None:
        raise EmptyDatasetError(f"{path} holds no data files ({', '.join(FILE_SUFFIXES)}): check the folder.")
    return _load_dataset(str(path), hub_config, split, data_files, kind="disk")


def read_hub(
    dataset_id: str, *, hub_config: str | None, split: str, data_files: str | list[str] | None
) -> RecordTable:
    """A Hugging Face dataset split (downloaded and cached by `datasets`)."""
    return _load_dataset(dataset_id, hub_config, split, data_files, kind="hub")


def _load_dataset(
    path: str, hub_config: str | None, split: str, data_files: str | list[str] | None, *, kind: str
) -> RecordTable:
    import datasets
    from datasets.exceptions import DataFilesNotFoundError, DatasetNotFoundError as HubNotFound

    where = "folder" if kind == "disk" else "Hugging Face dataset"
    if kind == "hub":
        _use_cache_only_if_unreachable()
    try:
        # Asking for the split downloads and prepares only that split.
        loaded = datasets.load_dataset(path, hub_config, split=split, data_files=data_files)
    except (HubNotFound, DataFilesNotFoundError, FileNotFoundError, ConnectionError) as exc:
        if kind == "disk":
            raise DatasetNotFoundError(f"{path}: no data files found ({_first_line(exc)}); check the folder or data_files.") from None
        raise DatasetNotFoundError(
            f"{path} is not a local file or folder and was not found on the Hugging Face Hub "
            f"({_hub_state()}): check the id or the path."
        ) from None
    except ValueError as exc:
        message = _first_line(exc)
        if "unknown split" in message.lower():
            raise DataError(f"{where} {path}: {message.rstrip('.')} (set data.split / --split).") from None
        if "config" in message.lower():
            raise DataError(f"{where} {path}: {message} (set data.hub_config / --hf-config).") from None
        raise DataError(f"{where} {path} cannot be loaded: {message}") from None
    except Exception as exc:  # builders raise many types for unreadable files
        raise MalformedDataError(f"{where} {path} cannot be read: {_first_line(exc)}") from None
    dataset = _pick_split(loaded, split, path)
    return _table_from_dataset(dataset, path, kind)


def _pick_split(loaded: Any, split: str, origin: str) -> Any:
    from datasets import DatasetDict

    if not isinstance(loaded, DatasetDict):
        return loaded
    if split in loaded:
        return loaded[split]
    if len(loaded) == 1 and split == "train":
        return next(iter(loaded.values()))
    raise DataError(f"{origin} has no split {split!r}: choose one of {', '.join(loaded)} (data.split / --split).")


def _table_from_dataset(dataset: Any, origin: str, kind: str) -> RecordTable:
    records = dataset.to_list()
    if not records:
        raise EmptyDatasetError(f"{origin} has no rows in this split: choose another split or add data.")
    return RecordTable(records, list(dataset.column_names), origin, kind)


def _use_cache_only_if_unreachable() -> None:
    """datasets has no `local_files_only`: when the Hub cannot be reached, switch it (and
    huggingface_hub) offline for this process, so a cached dataset still loads and a missing one
    fails at once instead of after five retries."""
    import os

    from tuitune.hub import hub_offline, hub_reachable

    if hub_offline() or hub_reachable():
        return
    import datasets.config
    import huggingface_hub.constants

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    # Both libraries read the setting once, when imported: tell them too.
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True


def _hub_state() -> str:
    from tuitune.hub import hub_offline, hub_reachable

    if not hub_reachable():
        return "the Hub cannot be reached from this machine and it is not in the local cache"
    if hub_offline():
        return "offline: HF_HUB_OFFLINE=1 is set and it is not in the local cache"
    return "or it is private: log in with `hf auth login`"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
