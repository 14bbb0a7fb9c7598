"""Read a dataset's rows from wherever they live: local files, a local dataset folder, the Hub.

Everything comes back as a `RecordTable` of plain dicts, whatever the source, so format
detection never cares where the rows came from. Local text files are parsed here rather than by
`datasets`, because a user with a broken file needs the file name and line number, which the
`datasets` builders do not give.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tuitune.bundled import SAMPLE_DATASET, SAMPLE_PREFERENCE, SAMPLE_PROMPTS
from tuitune.data.bundled_sets import preference_rows, prompt_rows
from tuitune.errors import DataError, DatasetNotFoundError, EmptyDatasetError, MalformedDataError
from tuitune.locations import DATA_FILE_SUFFIXES
from tuitune.system.hub import hub_offline, hub_reachable
from tuitune.text.user_text import decode_text, excerpt, shorten

# pyarrow, datasets and huggingface_hub are imported by the functions that read through them: a
# local JSON, CSV or text file is read without them (datasets alone takes about a second to import).

FILE_SUFFIXES: tuple[str, ...] = DATA_FILE_SUFFIXES
# Keys under which a JSON object commonly nests its list of records.
_NESTING_KEYS = ("data", "train", "rows", "records", "examples", "instances", "items")
# A chat row with tool schemas nests about ten levels; deeper is not training data, and would
# overflow the stack of whatever walks it next (json.dumps, pyarrow, the tokenizer).
MAX_NESTING = 64
# Entries a dataset folder may hold before it is refused rather than walked (`tuitune data /`).
MAX_FOLDER_ENTRIES = 10_000


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
    return Path(str(resources.files("tuitune.data").joinpath("sample", "sample.jsonl")))


def _generated_sample(name: str) -> RecordTable:
    """A bundled set generated from the sample's rows (see bundled_sets.py)."""
    records = preference_rows(sample_dataset_path()) if name == SAMPLE_PREFERENCE else prompt_rows()
    return RecordTable(records, list(records[0]), name, "sample")


def read_source(
    source: str | Path,
    *,
    hub_config: str | None = None,
    split: str = "train",
    data_files: str | list[str] | None = None,
    text_documents: str = "auto",
) -> RecordTable:
    """All rows of a local file, a local dataset folder, a bundled set (`tuitune/sample`,
    `tuitune/sample-preference`, `tuitune/sample-prompts`), or a Hub dataset split
    (a .txt file's documents are its paragraphs or its lines: `text_documents`)."""
    text = str(source)
    if text == SAMPLE_DATASET:
        table = read_file(sample_dataset_path())
        table.origin, table.kind = SAMPLE_DATASET, "sample"
        return table
    if text in (SAMPLE_PREFERENCE, SAMPLE_PROMPTS):
        return _generated_sample(text)
    if not text.strip():
        raise DatasetNotFoundError(
            "No dataset given: name a data file or folder, a Hugging Face dataset id, or tuitune/sample."
        )
    path = _expand(text)
    kind = _probe(path, text)
    if kind == "file":
        return read_file(path, text_documents=text_documents)
    if kind == "folder":
        return read_folder(path, hub_config=hub_config, split=split, data_files=data_files)
    if _looks_like_path(text):
        raise DatasetNotFoundError(
            f"{shorten(text)} does not exist: check the path (or give a Hugging Face dataset id)."
        )
    return read_hub(text, hub_config=hub_config, split=split, data_files=data_files)


def _expand(text: str) -> Path:
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~name of a user this machine does not have
        return Path(text)


def _probe(path: Path, text: str) -> str | None:
    """ "file", "folder", or None when nothing is there; a path that cannot even be looked at
    (too long, a NUL in it, a folder on the way that cannot be entered) is refused."""
    try:
        if path.is_file():
            return "file"
        if path.is_dir():
            return "folder"
    except (OSError, ValueError) as exc:
        raise DatasetNotFoundError(f"{shorten(text)} cannot be opened ({_reason(exc)}): check the path.") from None
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "not a valid path" if isinstance(exc, ValueError) else type(exc).__name__


def _looks_like_path(text: str) -> bool:
    return (
        Path(text).suffix.lower() in FILE_SUFFIXES
        or text.startswith(("/", "./", "../", "~", "."))
        or "\\" in text
        or text.count("/") > 1
    )


# --- local files ---------------------------------------------------------------------------
def read_file(path: Path, *, text_documents: str = "auto") -> RecordTable:
    """One local data file; the suffix says how to parse it."""
    suffix = path.suffix.lower()
    notes: list[str] = []
    if suffix == ".parquet":
        records = _read_parquet(path)
    else:
        if suffix not in FILE_SUFFIXES:
            raise DataError(
                f"{path} has an unsupported file type {shorten(suffix) or '(none)'}: "
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
            records, split_by = _parse_txt(content, text_documents)
            notes.append(f"documents: {len(records):,} {split_by}")
    if not records:
        raise EmptyDatasetError(f"{path} holds no rows: add some rows to it.")
    kind = "jsonl" if suffix == ".ndjson" else suffix.lstrip(".")
    return RecordTable(records, _columns(records), str(path), kind, notes)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({_reason(exc)}): check that it is a file you can read.") from None
    # Excel and Notepad save UTF-8 and UTF-16 with a byte-order mark; other encodings are refused.
    return decode_text(data, str(path), MalformedDataError)


def _load_json(text: str, path: Path, line: int | None, fix: str) -> Any:
    """One JSON document (the whole file, or line `line` of a JSONL file); what is wrong with it
    said as a `MalformedDataError`."""
    where = f"{path} line {line}" if line is not None else str(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{path} line {line if line is not None else exc.lineno}"
        raise MalformedDataError(f"{where}: invalid JSON ({exc.msg}); {fix}.") from None
    except RecursionError:
        raise MalformedDataError(f"{where}: nested more than {MAX_NESTING} levels deep; {fix}.") from None
    except ValueError:  # json reads integers with int(), which stops at 4,300 digits
        raise MalformedDataError(f"{where}: a number has more than 4,300 digits; {fix}.") from None


def _check_row(record: dict[str, Any], path: Path, where: str) -> None:
    """Refuse what parsed as JSON but cannot be trained on: absurd nesting, and strings with a
    lone UTF-16 surrogate (`"\\ud83d"`), which no tokenizer or file encoding accepts."""
    stack: list[tuple[Any, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise MalformedDataError(
                        f"{path} {where}: a string holds a lone UTF-16 surrogate (an escape such as \\ud83d "
                        "without its pair); fix or remove that escape."
                    ) from None
        elif isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise MalformedDataError(f"{path} {where}: nested more than {MAX_NESTING} levels deep; flatten it.")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


def _parse_json(content: str, path: Path) -> list[dict[str, Any]]:
    data = _load_json(content, path, None, "fix the file")
    records = _records_from_json(data, path)
    for number, record in enumerate(records, start=1):
        _check_row(record, path, f"row {number}")
    return records


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
            raise MalformedDataError(
                f"{path} holds columns of different lengths: every column needs one value per row."
            )
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
    raise MalformedDataError(
        f"{path} {where} is a JSON {type(item).__name__}, not an object: every row must be an object."
    )


def _parse_jsonl(content: str, path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        record = _as_record(_load_json(line, path, number, "fix or remove that line"), path, where)
        _check_row(record, path, where)
        records.append(record)
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


_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _parse_txt(content: str, text_documents: str) -> tuple[list[dict[str, Any]], str]:
    """The documents of a text file, and what they are: its paragraphs (blocks between blank
    lines) or its lines. `auto`: paragraphs when the file has a blank line, else lines (a file of
    one article per line, as corpora are often shipped)."""
    text = content.replace("\r\n", "\n")
    by_paragraph = text_documents == "paragraphs" or (text_documents == "auto" and _BLANK_LINE.search(text.strip()))
    pieces = _BLANK_LINE.split(text) if by_paragraph else text.split("\n")
    records = [{"text": piece.strip()} for piece in pieces if piece.strip()]
    if by_paragraph:
        return records, "paragraphs (separated by blank lines)"
    return records, "lines" + (" (the file has no blank lines)" if text_documents == "auto" else "")


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
def read_folder(path: Path, *, hub_config: str | None, split: str, data_files: str | list[str] | None) -> RecordTable:
    """A folder written by `save_to_disk`, or laid out like a Hub dataset repository."""
    saved = _probe(path / "dataset_dict.json", str(path)) == "file" or _probe(path / "state.json", str(path)) == "file"
    if saved:
        from datasets import load_from_disk

        try:
            loaded = load_from_disk(str(path))
        except Exception as exc:
            raise MalformedDataError(f"{path} looks like a saved dataset but cannot be loaded ({exc}).") from None
        dataset = _pick_split(loaded, split, str(path))
        return _table_from_dataset(dataset, str(path), "disk")
    if not _holds_data_files(path) and data_files is None:
        raise EmptyDatasetError(f"{path} holds no data files ({', '.join(FILE_SUFFIXES)}): check the folder.")
    return _load_dataset(str(path), hub_config, split, data_files, kind="disk")


def _holds_data_files(folder: Path) -> bool:
    """Whether `folder` holds data files anywhere below it, as `datasets` will look for them.

    The whole tree is walked (as `datasets` walks it), but never more than `MAX_FOLDER_ENTRIES`
    entries: `tuitune data /` is refused in a moment instead of crawling the disk and /proc.
    """

    def unreadable(exc: OSError) -> None:
        where = shorten(exc.filename or folder)
        raise DataError(
            f"{where} cannot be read ({_reason(exc)}): check its permissions, or point at the dataset's own folder."
        )

    seen, found = 0, False
    for _root, folders, files in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]  # .git, .cache: never data
        seen += len(folders) + len(files)
        if seen > MAX_FOLDER_ENTRIES:
            raise DataError(
                f"{shorten(folder)} holds more than {MAX_FOLDER_ENTRIES:,} files and folders: "
                "point at the dataset's own folder or at a data file."
            )
        found = found or any(os.path.splitext(name)[1].lower() in FILE_SUFFIXES + (".arrow",) for name in files)
    return found


def read_hub(dataset_id: str, *, hub_config: str | None, split: str, data_files: str | list[str] | None) -> RecordTable:
    """A Hugging Face dataset split (downloaded and cached by `datasets`)."""
    return _load_dataset(dataset_id, hub_config, split, data_files, kind="hub")


def _load_dataset(
    path: str, hub_config: str | None, split: str, data_files: str | list[str] | None, *, kind: str
) -> RecordTable:
    import datasets
    from datasets.exceptions import DataFilesNotFoundError
    from datasets.exceptions import DatasetNotFoundError as HubNotFound

    where = "folder" if kind == "disk" else "Hugging Face dataset"
    shown = shorten(path)
    if kind == "hub":
        _use_cache_only_if_unreachable()
    try:
        # Asking for the split downloads and prepares only that split.
        with _datasets_quiet(local=kind == "disk"):
            loaded = datasets.load_dataset(path, hub_config, split=split, data_files=data_files)
    except (HubNotFound, DataFilesNotFoundError, FileNotFoundError, ConnectionError) as exc:
        if kind == "disk":
            raise DatasetNotFoundError(
                f"{shown}: no data files found ({_first_line(exc)}); check the folder or data_files."
            ) from None
        raise DatasetNotFoundError(
            f"{shown} is not a local file or folder and was not found on the Hugging Face Hub "
            f"({_hub_state()}): check the id or the path."
        ) from None
    except ValueError as exc:
        message = _first_line(exc)
        if "unknown split" in message.lower():
            raise DataError(f"{where} {shown}: {message.rstrip('.')} (set data.split / --split).") from None
        if "config" in message.lower():
            raise DataError(f"{where} {shown}: {message} (set data.hub_config / --hf-config).") from None
        raise DataError(f"{where} {shown} cannot be loaded: {message}") from None
    except Exception as exc:  # builders raise many types for unreadable files
        # "An error occurred while generating the dataset" says nothing: the cause says what.
        raise MalformedDataError(f"{where} {shown} cannot be read: {_first_line(_root_cause(exc))}") from None
    dataset = _pick_split(loaded, split, path)
    return _table_from_dataset(dataset, path, kind)


@contextlib.contextmanager
def _datasets_quiet(*, local: bool) -> Iterator[None]:
    """`datasets` logs an unreadable file as an ERROR before raising, and draws progress bars for
    a local folder's few rows; the one-line error said here is all a user should see."""
    from datasets.utils import logging as datasets_logging

    verbosity = datasets_logging.get_verbosity()
    bars = datasets_logging.is_progress_bar_enabled()
    datasets_logging.set_verbosity(logging.CRITICAL)
    if local:
        datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        datasets_logging.set_verbosity(verbosity)
        if local and bars:
            datasets_logging.enable_progress_bar()


def _root_cause(exc: BaseException) -> BaseException:
    for _ in range(20):  # a chain, not a cycle: bounded all the same
        cause = exc.__cause__ or exc.__context__
        if cause is None:
            break
        exc = cause
    return exc


def _pick_split(loaded: Any, split: str, origin: str) -> Any:
    from datasets import DatasetDict

    if not isinstance(loaded, DatasetDict):
        return loaded
    if split in loaded:
        return loaded[split]
    if len(loaded) == 1 and split == "train":
        return next(iter(loaded.values()))
    raise DataError(
        f"{shorten(origin)} has no split {excerpt(split)}: choose one of {', '.join(loaded)} (data.split / --split)."
    )


def _table_from_dataset(dataset: Any, origin: str, kind: str) -> RecordTable:
    records = dataset.to_list()
    if not records:
        raise EmptyDatasetError(f"{origin} has no rows in this split: choose another split or add data.")
    return RecordTable(records, list(dataset.column_names), origin, kind)


def _use_cache_only_if_unreachable() -> None:
    """datasets has no `local_files_only`: when the Hub cannot be reached, switch it (and
    huggingface_hub) offline for this process, so a cached dataset still loads and a missing one
    fails at once instead of after five retries."""
    if hub_offline() or hub_reachable():
        return
    import datasets.config
    import huggingface_hub.constants

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    # Both libraries read the setting once, when imported: tell them too.
    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True


def _hub_state() -> str:
    if not hub_reachable():
        return "the Hub cannot be reached from this machine and it is not in the local cache"
    if hub_offline():
        return "offline: HF_HUB_OFFLINE=1 is set and it is not in the local cache"
    return "or it is private: log in with `hf auth login`"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
