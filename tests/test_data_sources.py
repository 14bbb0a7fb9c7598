"""A user points tuitune at their data, wherever it lives, and gets the same rows back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuitune.config import DataSettings
from tuitune.data import load_examples, read_source, split_examples, validation_examples
from tuitune.data.examples import Conversation
from tuitune.errors import (
    DataError,
    DatasetNotFoundError,
    EmptyDatasetError,
    MalformedDataError,
    NoTextColumnsError,
)

ROWS = [
    {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_file_reads_every_row_in_order(tmp_path: Path) -> None:
    table = read_source(write_jsonl(tmp_path / "d.jsonl", ROWS))
    assert table.records == ROWS
    assert table.columns == ["instruction", "input", "output"]
    assert table.kind == "jsonl"


def test_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n   \n" + json.dumps(ROWS[1]) + "\n", encoding="utf-8")
    assert read_source(path).records == ROWS[:2]


@pytest.mark.parametrize(
    "content",
    [
        ROWS,  # an array of records
        {"data": ROWS},  # records nested under a key
        {"version": 2, "examples": ROWS},  # nested under another key, beside metadata
        {k: [r[k] for r in ROWS] for k in ROWS[0]},  # a dict of columns (Dataset.to_dict())
        {str(i): r for i, r in enumerate(ROWS)},  # records keyed by id
    ],
    ids=["array", "data-key", "examples-key", "columns", "keyed"],
)
def test_json_file_in_every_common_shape(tmp_path: Path, content: object) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    assert read_source(path).records == ROWS


def test_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(ROWS).encode())
    assert read_source(path).records == ROWS


def test_csv_and_tsv_files(tmp_path: Path) -> None:
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('instruction,input,output\nSay hi.,,Hi!\n"Add, then answer.",2 and 3,5\n', encoding="utf-8")
    table = read_source(csv_path)
    assert table.records == [
        {"instruction": "Say hi.", "input": "", "output": "Hi!"},
        {"instruction": "Add, then answer.", "input": "2 and 3", "output": "5"},
    ]
    tsv_path = tmp_path / "d.tsv"
    tsv_path.write_text("question\tanswer\nWhy, though?\tBecause.\n", encoding="utf-8")
    assert read_source(tsv_path).records == [{"question": "Why, though?", "answer": "Because."}]


def test_parquet_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    table = read_source(path)
    assert table.records == ROWS and table.kind == "parquet"


def test_txt_file_is_one_document_per_blank_line_separated_block(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("First paragraph,\nstill first.\n\n\nSecond one.\n  \nThird.\n", encoding="utf-8")
    assert read_source(path).records == [
        {"text": "First paragraph,\nstill first."},
        {"text": "Second one."},
        {"text": "Third."},
    ]


def test_folder_saved_with_save_to_disk(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "single"))
    assert read_source(tmp_path / "single").records == ROWS

    DatasetDict({"train": Dataset.from_list(ROWS[:2]), "test": Dataset.from_list(ROWS[2:])}).save_to_disk(
        str(tmp_path / "dict")
    )
    assert read_source(tmp_path / "dict", split="test").records == ROWS[2:]
    with pytest.raises(DataError, match="no split .dev..*train, test"):
        read_source(tmp_path / "dict", split="dev")


def test_folder_laid_out_like_a_hub_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "my-dataset"
    (folder / "data").mkdir(parents=True)
    write_jsonl(folder / "data" / "train.jsonl", ROWS[:2])
    write_jsonl(folder / "data" / "test.jsonl", ROWS[2:])
    assert read_source(folder).records == ROWS[:2]
    assert read_source(folder, split="test").records == ROWS[2:]
    table = read_source(folder, data_files=[str(folder / "data" / "test.jsonl")])
    assert table.records == ROWS[2:]


def test_hub_id_that_cannot_be_reached_is_dataset_not_found() -> None:
    # Tests run with HF_DATASETS_OFFLINE=1: the real download code runs and fails cleanly.
    with pytest.raises(DatasetNotFoundError, match="not found on the Hugging Face Hub"):
        read_source("someone/no-such-dataset-xyz")


def test_bundled_sample_dataset() -> None:
    table = read_source("tuitune/sample")
    assert table.kind == "sample" and len(table) > 100
    assert {"instruction", "output"} <= set(table.columns)


# --- bad input -----------------------------------------------------------------------------
def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[1]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(MalformedDataError, match=r"d\.jsonl line 3: invalid JSON"):
        read_source(path)


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n[1, 2]\n", encoding="utf-8")
    with pytest.raises(MalformedDataError, match="line 2 is a JSON list"):
        read_source(path)


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[\n {"a": 1},\n {"a": 2,,}\n]', encoding="utf-8")
    with pytest.raises(MalformedDataError, match=r"d\.json line 3"):
        read_source(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        read_source(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.json", "empty.csv", "empty.txt"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(EmptyDatasetError, match="is empty"):
        read_source(path)


def test_csv_with_only_a_header_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("instruction,output\n", encoding="utf-8")
    with pytest.raises(EmptyDatasetError):
        read_source(path)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(MalformedDataError, match=r"not UTF-8.*line 2"):
        read_source(path)


def test_csv_with_no_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("id,score,weight\n1,0.5,3\n2,0.7,4\n", encoding="utf-8")
    with pytest.raises(NoTextColumnsError, match="no column with text.*id, score, weight"):
        load_examples(DataSettings(source=str(path)))


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\nfine,1\nbroken, has, commas,1\n", encoding="utf-8")
    with pytest.raises(MalformedDataError, match="line 3: 4 fields but the header has 2"):
        read_source(path)


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match="unsupported file type .xlsx"):
        read_source(path)


# --- selection: shuffle, max_samples, validation -------------------------------------------
def test_split_is_deterministic_and_disjoint() -> None:
    items = list(range(100))
    train, validation = split_examples(items, shuffle=True, seed=7, validation_split=0.2)
    assert (train, validation) == split_examples(items, shuffle=True, seed=7, validation_split=0.2)
    assert len(train) == 80 and len(validation) == 20
    assert sorted(train + validation) == items
    assert split_examples(items, shuffle=True, seed=8, validation_split=0.2)[1] != validation


def test_split_without_shuffle_holds_out_the_tail_and_counts_work() -> None:
    train, validation = split_examples(list(range(10)), shuffle=False, validation_split=3)
    assert train == list(range(7)) and validation == [7, 8, 9]
    train, validation = split_examples(list(range(10)), shuffle=False, max_samples=4, validation_split=0.25)
    assert train == [0, 1, 2] and validation == [3]
    assert split_examples(list(range(10)), validation_split=0) == (
        split_examples(list(range(10)), validation_split=0)[0],
        [],
    )


def test_validation_that_takes_everything_is_refused() -> None:
    with pytest.raises(EmptyDatasetError, match="lower it"):
        split_examples(list(range(5)), validation_split=5)


def test_validation_examples_are_recovered_from_the_settings_alone(tmp_path: Path) -> None:
    rows = [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(40)]
    settings = DataSettings(
        source=str(write_jsonl(tmp_path / "d.jsonl", rows)), validation_split=0.25, seed=3, max_samples=30
    )
    loaded = load_examples(settings)
    assert len(loaded.train) == 22 and len(loaded.validation) == 8
    again = validation_examples(settings)
    assert again == loaded.validation
    held_out = [e for e in again if isinstance(e, Conversation)]
    trained = [e for e in loaded.train if isinstance(e, Conversation)]
    assert len(held_out) == len(again) and len(trained) == len(loaded.train)  # conversations, every one
    prompts = {e.messages[-2].content for e in held_out}
    assert prompts.isdisjoint({e.messages[-2].content for e in trained})
    assert all(e.reference == e.messages[-2].content.replace("Question", "Answer").replace("?", ".") for e in held_out)


def test_hub_layout_folder_with_an_unknown_split(tmp_path: Path) -> None:
    folder = tmp_path / "my-dataset"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS)
    with pytest.raises(DataError, match=r"Unknown split.*--split"):
        read_source(folder, split="validation")
