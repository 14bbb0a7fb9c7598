"""Continued pre-training on a corpus: a text file's documents are its lines or its paragraphs,
every token of every document is trained once per epoch (long ones as windows, never cut), and
the summary says how many documents, windows and tokens there are and warns about what is lost."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.helpers import cli, cli_json
from tuitune.config import DataSettings, parse_config
from tuitune.data import IGNORE_INDEX, prepare_dataset
from tuitune.data.sources import read_source
from tuitune.data.tokenize import TokenizedExample, windows
from tuitune.errors import InvalidConfigError
from tuitune.store import COMPLETED, open_store

# One article a line, as Wikipedia dumps and many corpora come: no blank line anywhere.
ARTICLES = [
    ("The river rises in the hills and runs south to the sea past three towns. " * (1 + index % 4)).strip()
    for index in range(12)
]


@pytest.fixture(scope="module")
def tokenizer(demo_model_path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_model_path))


def corpus_file(folder: Path, name: str = "wiki.txt", separator: str = "\n") -> Path:
    path = folder / name
    path.write_text(separator.join(ARTICLES) + "\n", encoding="utf-8")
    return path


def tokens_of(tokenizer, text: str) -> list[int]:
    """What the corpus holds for one document: its tokens as the tokenizer reads a text, then EOS."""
    ids = tokenizer(text)["input_ids"]
    return ids if ids and ids[-1] == tokenizer.eos_token_id else ids + [tokenizer.eos_token_id]


def test_a_text_file_is_its_lines_or_its_paragraphs_as_the_user_says(tmp_path: Path) -> None:
    lines = read_source(corpus_file(tmp_path))
    assert len(lines) == len(ARTICLES) and lines.notes == ["documents: 12 lines (the file has no blank lines)"]
    paragraphs = read_source(corpus_file(tmp_path, "paras.txt", "\n\n"))
    assert len(paragraphs) == len(ARTICLES) and "paragraphs" in paragraphs.notes[0]
    # Wrapped prose: paragraphs by default, lines when asked.
    prose = tmp_path / "prose.txt"
    prose.write_text("A first paragraph\nwrapped on two lines.\n\nA second one.\n")
    assert [row["text"] for row in read_source(prose).records] == [
        "A first paragraph\nwrapped on two lines.",
        "A second one.",
    ]
    assert len(read_source(prose, text_documents="lines")) == 3
    assert len(read_source(corpus_file(tmp_path, "one.txt", "\n\n"), text_documents="lines")) == len(ARTICLES)


def test_every_token_of_a_multi_document_corpus_is_trained_once(tmp_path: Path, tokenizer) -> None:
    settings = DataSettings(source=str(corpus_file(tmp_path)), max_length=32, validation_split=0, shuffle=False)
    prepared = prepare_dataset(settings, tokenizer)
    stats = prepared.stats
    expected = [tokens_of(tokenizer, article) for article in ARTICLES]
    assert stats.documents == len(ARTICLES) and stats.total_tokens == sum(map(len, expected))
    assert stats.windowed_documents == sum(len(ids) > 32 for ids in expected) > 0
    assert stats.cut_token_fraction == 0.0 and stats.truncated_fraction == 0.0
    # The windows, in order, are the corpus: every token trained, once, none longer than max_length.
    trained = [
        token
        for ids, labels in zip(prepared.train["input_ids"], prepared.train["labels"])
        for token, label in zip(ids, labels)
        if label != IGNORE_INDEX
    ]
    assert trained == [token for ids in expected for token in ids]
    assert max(prepared.train["length"]) <= 32 and stats.trained_tokens == stats.total_tokens
    assert stats.corpus.startswith("12 documents → ") and "long texts in windows" in stats.corpus


def test_windows_with_a_stride_repeat_context_and_still_train_each_token_once() -> None:
    whole = TokenizedExample(list(range(100)), list(range(100)), 100)
    plain = windows(whole, 32)
    assert [len(w.input_ids) for w in plain] == [32, 32, 32, 4]
    strided = windows(whole, 32, stride=8)
    assert all(len(w.input_ids) <= 32 for w in strided)
    for before, after in itertools.pairwise(strided):
        assert after.input_ids[:8] == before.input_ids[-8:] and after.labels[:8] == [IGNORE_INDEX] * 8
    assert [t for w in strided for t in w.labels if t != IGNORE_INDEX] == list(range(100))
    with pytest.raises(InvalidConfigError, match="window_stride"):
        parse_config({"data": {"max_length": 32, "window_stride": 32}})


def test_long_jsonl_documents_are_windowed_and_cut_chat_data_is_warned_about(tmp_path: Path, tokenizer) -> None:
    documents = tmp_path / "c4.jsonl"
    documents.write_text("".join(json.dumps({"text": article}) + "\n" for article in ARTICLES))
    prepared = prepare_dataset(DataSettings(source=str(documents), max_length=24), tokenizer)
    assert prepared.stats.windowed_documents > 0 and prepared.stats.cut_token_fraction == 0.0
    assert prepared.stats.warnings == []
    # Instruction data keeps its rule (a response is cut, never split from its prompt), and says so.
    alpaca = tmp_path / "long.jsonl"
    alpaca.write_text(
        "".join(
            json.dumps({"instruction": f"Tell me about rivers {i}.", "output": ARTICLES[3]}) + "\n" for i in range(8)
        )
    )
    cut = prepare_dataset(DataSettings(source=str(alpaca), max_length=32), tokenizer).stats
    assert cut.cut_token_fraction > 0.3 and cut.truncated_fraction == 1.0
    assert any("of the tokens are cut off at max_length 32" in warning for warning in cut.warnings)


@pytest.mark.integration  # the real CLI, in a child process
def test_too_little_data_and_no_validation_are_warned_about(tmp_path: Path, tokenizer) -> None:
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text("".join(json.dumps({"instruction": f"Say {i}.", "output": f"{i}."}) + "\n" for i in range(3)))
    stats = prepare_dataset(DataSettings(source=str(tiny), validation_split=0), tokenizer, batch_size=4).stats
    assert any("fewer than one batch of 4" in warning for warning in stats.warnings)
    assert any("no validation samples" in warning for warning in stats.warnings)
    report = cli("data", str(tiny), "--batch-size", "4")
    assert report.returncode == 0 and "warning: only 2 training sequences" in report.stdout
    assert cli_json("data", str(tiny))["warnings"]


@pytest.mark.slow
def test_a_run_on_a_text_corpus_trains_every_document_and_says_so(tmp_path: Path, demo_model_path: Path) -> None:
    corpus = corpus_file(tmp_path)
    run = cli_json(
        "train", "--demo", "-d", str(corpus), "--method", "full_finetuning", "--max-length", "32",
        "--max-steps", "2", "--batch-size", "4", timeout=600,
    )  # fmt: skip
    assert run["status"] == COMPLETED
    events = [event.message for event in open_store().events(run["run_id"])]
    assert "data: documents: 12 lines (the file has no blank lines)" in events
    assert any("12 documents → " in message and "in windows" in message for message in events)
    warnings = [event.message for event in open_store().events(run["run_id"]) if event.level == "warning"]
    assert not any("cut off" in message for message in warnings)
