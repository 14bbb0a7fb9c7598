"""A user hands tuitune broken, hostile or impossible input: each is refused in one line that says
what to do next, never with a traceback, and a value nothing could train with never reaches a worker.

Most stories run the real command in-process (`tests.cli_inprocess`, through the console script's
own entry point); one runs it as a subprocess, exactly as typed in a shell.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
from pathlib import Path

import pytest

from tests.cli_inprocess import assert_clean_error, run_inprocess
from tests.helpers import assert_one_line_error, cli
from tuitune.config import MAX_CONFIG_BYTES, RunConfig, load_config, parse_config
from tuitune.data.sources import MAX_FOLDER_ENTRIES, MAX_NESTING, read_source
from tuitune.errors import InvalidConfigError

ROWS = [
    {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    {"instruction": "Translate.", "input": "Bonjour", "output": "Hello"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Count to three.", "input": "", "output": "One, two, three."},
]
# An error line that repeats a bad value whole is longer than this.
SHORT = 300


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- data files ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, content",
    [
        ("deep.json", "[" * 1_000 + "]" * 1_000),
        ("deep.jsonl", '{"text": "tea", "x": ' + "[" * 1_000 + "]" * 1_000 + "}\n"),
        (
            "deep-enough-to-parse.jsonl",
            '{"text": "tea", "x": ' + "[" * (MAX_NESTING + 5) + "]" * (MAX_NESTING + 5) + "}\n",
        ),
    ],
)
def test_json_nested_a_thousand_deep_is_refused_not_a_recursion_error(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert_clean_error(run_inprocess("data", str(path)), name, f"nested more than {MAX_NESTING} levels deep")


def test_a_lone_surrogate_escape_is_refused_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "emoji.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "half an emoji \\ud83d"}\n', encoding="utf-8")
    assert_clean_error(run_inprocess("data", str(path)), "line 2", "lone UTF-16 surrogate")


def test_a_5000_digit_number_is_refused_not_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "numbers.jsonl"
    path.write_text('{"text": "tea", "n": ' + "9" * 5_000 + "}\n", encoding="utf-8")
    assert_clean_error(run_inprocess("data", str(path)), "line 1", "more than 4,300 digits")


@pytest.mark.parametrize("where", ["in a folder", "bare"])
def test_a_5000_character_path_is_refused_and_shown_as_an_excerpt(tmp_path: Path, where: str) -> None:
    path = f"{tmp_path}/{'a' * 5_000}.jsonl" if where == "in a folder" else "a" * 5_000
    line = assert_clean_error(run_inprocess("data", path), "File name too long")
    assert len(line) < SHORT


def test_the_root_folder_is_refused_in_one_line_instead_of_crawling_the_disk() -> None:
    # `/` holds /proc (unreadable in places) and far more than a dataset folder: either is said.
    result = run_inprocess("data", "/")
    line = assert_clean_error(result)
    assert "cannot be read" in line or f"more than {MAX_FOLDER_ENTRIES:,} files" in line


def test_a_folder_too_big_to_be_a_dataset_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "everything"
    folder.mkdir()
    for number in range(MAX_FOLDER_ENTRIES + 1):
        (folder / f"{number}.bin").touch()
    assert_clean_error(
        run_inprocess("data", str(folder)), f"more than {MAX_FOLDER_ENTRIES:,} files", "dataset's own folder"
    )


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    # Reading /proc/self/mem from its start fails with an I/O error, even for root.
    memory = Path("/proc/self/mem")
    if not memory.exists():
        pytest.skip("no /proc/self/mem on this system")
    link = tmp_path / "rows.jsonl"
    link.symlink_to(memory)
    assert_clean_error(run_inprocess("data", str(link)), "rows.jsonl cannot be read", "Input/output error")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_a_file_and_a_folder_without_read_permission_are_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked.jsonl"
    locked.write_text(jsonl(ROWS), encoding="utf-8")
    locked.chmod(0)
    assert_clean_error(run_inprocess("data", str(locked)), "locked.jsonl cannot be read", "Permission denied")
    folder = tmp_path / "dataset"
    (folder / "private").mkdir(parents=True)
    (folder / "train.jsonl").write_text(jsonl(ROWS), encoding="utf-8")
    (folder / "private").chmod(0)
    try:
        assert_clean_error(run_inprocess("data", str(folder)), "private cannot be read", "Permission denied")
    finally:
        (folder / "private").chmod(0o700)


@pytest.mark.parametrize("suffix, delimiter", [(".csv", ","), (".tsv", "\t")])
def test_utf16_csv_with_a_byte_order_mark_reads_like_utf8(tmp_path: Path, suffix: str, delimiter: str) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["instruction", "input", "output"], delimiter=delimiter)
    writer.writeheader()
    writer.writerows(ROWS)
    text = buffer.getvalue()
    utf8, utf16 = tmp_path / f"utf8{suffix}", tmp_path / f"utf16{suffix}"
    utf8.write_text(text, encoding="utf-8")
    utf16.write_bytes(text.encode("utf-16"))  # Excel's "Unicode text": a byte-order mark, then UTF-16
    table = read_source(utf16)
    assert table.records == read_source(utf8).records
    assert not any("\0" in str(value) for record in table.records for value in record.values())


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_refused_not_read_as_nul_rows(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes("text,label\nhello world,1\nfoo bar,2\n".encode(encoding))
    assert_clean_error(run_inprocess("data", str(path)), "NUL character", "save it as UTF-8 and try again")


def test_an_empty_dataset_name_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a dataset\n", encoding="utf-8")
    assert_clean_error(run_inprocess("data", ""), "No dataset given")


def test_brackets_in_a_data_path_are_shown_as_they_are(
    tmp_path: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a path as a user types it: however long the temporary folder, it fits
    path = Path("a[") / "]b [bold].jsonl"  # "a[/]b [bold].jsonl": rich would read markup in it
    path.parent.mkdir()
    path.write_text(jsonl(ROWS), encoding="utf-8")
    result = run_inprocess("data", str(path))
    assert result.traceback is None and result.returncode == 0, result.stderr
    assert "a[/]b" in result.stdout and "[bold].jsonl" in result.stdout  # wrapped at 80 columns, not styled


# --- run configurations: files ------------------------------------------------------------
def test_a_utf16_config_with_a_byte_order_mark_loads_like_utf8(tmp_path: Path) -> None:
    config = RunConfig(name="café")
    path = tmp_path / "run.yaml"
    path.write_bytes(config.to_yaml().encode("utf-16"))
    assert load_config(path) == config


@pytest.mark.parametrize(
    "kind, encode, fragment",
    [
        ("latin-1", lambda text: text.encode("latin-1"), "is not UTF-8 text (byte 0xe9 on line 1)"),
        ("utf-16 without a mark", lambda text: text.encode("utf-16-le"), "is not UTF-8 text"),
        ("binary", lambda text: bytes(range(128, 256)) + bytes(range(128)), "is not UTF-8 text (byte 0x80"),
        ("NUL", lambda text: text.encode() + b"\0", "holds a NUL character"),
    ],
)
def test_a_config_in_another_encoding_is_refused_in_one_line(tmp_path: Path, kind: str, encode, fragment: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(encode("name: café\n"))
    out = tmp_path / "saved.yaml"
    assert_clean_error(
        run_inprocess("train", "--config", str(path), "--save-config", str(out)),
        fragment,
        "save it as UTF-8 and try again",
    )
    assert not out.exists()


def test_a_yaml_alias_bomb_is_refused_at_once_with_a_short_error(tmp_path: Path) -> None:
    # A few hundred bytes that expand to 9**6 strings (the "billion laughs", kept small enough
    # that the code before this fix printed a 3 MB line instead of eating all memory).
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 6)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nname: *a5\n", encoding="utf-8")
    assert path.stat().st_size < 1_000
    line = assert_clean_error(
        run_inprocess("train", "--config", str(path), "--save-config", str(tmp_path / "o.yaml")), "aliases"
    )
    assert len(line) < SHORT


def test_any_yaml_alias_is_refused_since_tuitune_never_writes_one(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("name: &n my-run\nmodel:\n  name_or_path: *n\n", encoding="utf-8")
    with pytest.raises(InvalidConfigError, match="aliases"):
        load_config(path)


def test_a_config_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(RunConfig().to_yaml() + "#" * MAX_CONFIG_BYTES, encoding="utf-8")
    with pytest.raises(InvalidConfigError, match="too big for a run configuration"):
        load_config(path)


def test_a_config_nested_thousands_deep_is_refused(tmp_path: Path) -> None:
    for suffix, text in (
        (".yaml", "name: " + "[" * 5_000 + "]" * 5_000),
        (".json", '{"name": ' + "[" * 5_000 + "]" * 5_000 + "}"),
    ):
        path = tmp_path / f"run{suffix}"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidConfigError, match="nested too deeply"):
            load_config(path)


# --- run configurations: values no run can use ------------------------------------------------
@pytest.mark.parametrize(
    "yaml_text, key, fragment",
    [
        ("training:\n  epochs: .inf\n", "training.epochs", "finite"),
        ("training:\n  epochs: .nan\n", "training.epochs", "finite"),
        ("training:\n  learning_rate: .inf\n", "training.learning_rate", "finite"),
        ("training:\n  max_steps: 9223372036854775808\n", "training.max_steps", "less than or equal to 1000000000"),
        ("training:\n  batch_size: 1.0e+30\n", "training.batch_size", ""),
        ("lora:\n  r: 1000000000000000000000000000000\n", "lora.r", "less than or equal to"),
        ("training:\n  seed: -1\n", "training.seed", "greater than or equal to 0"),
        ("training:\n  seed: 4294967296\n", "training.seed", "less than or equal to 4294967295"),
        ("data:\n  seed: 18446744073709551616\n", "data.seed", "less than or equal to 4294967295"),
        ("data:\n  max_length: 99999999999\n", "data.max_length", "less than or equal to"),
        ("training:\n  save_steps: 99999999999\n", "training.save_steps", "less than or equal to"),
        ("training:\n  report_to: [none, tensorboard]\n", "training.report_to", "stands alone"),
        ("training:\n  report_to: [tensrboard]\n", "training.report_to", "not an integration"),
    ],
)
def test_values_no_run_can_use_are_refused_by_the_config_naming_the_field(
    tmp_path: Path, yaml_text: str, key: str, fragment: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    line = assert_clean_error(
        run_inprocess("train", "--config", str(path), "--save-config", str(tmp_path / "o.yaml")), key, fragment
    )
    assert len(line) < SHORT
    assert not (tmp_path / "o.yaml").exists()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_reporting_to_wandb_without_wandb_installed_is_refused_before_a_worker_starts() -> None:
    with pytest.raises(
        InvalidConfigError, match=r"wandb, which is not installed here: install it \(pip install wandb\)"
    ):
        parse_config({"training": {"report_to": ["wandb"]}})


@pytest.mark.parametrize(
    "training, key",
    [
        ({"epochs": float("inf")}, "training.epochs"),
        ({"epochs": float("nan")}, "training.epochs"),
        ({"max_steps": 2**63}, "training.max_steps"),
        ({"max_steps": 10**5_000}, "training.max_steps"),
    ],
)
def test_resume_budgets_built_into_a_config_are_refused_naming_the_field(training: dict, key: str) -> None:
    # `resume --epochs/--max-steps` builds the run's new config and parses it: what it relies on.
    with pytest.raises(InvalidConfigError) as caught:
        parse_config({**RunConfig().to_dict(), "training": {**RunConfig().training.model_dump(), **training}}, "run 7")
    message = str(caught.value)
    assert message.startswith(f"{key} in run 7") and len(message) < SHORT


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--epochs", "nan"),
        ("--epochs", "inf"),
        ("--max-steps", "9223372036854775808"),
        ("--seed", "4294967296"),
        ("--seed", "-1"),
        ("--lora-r", "99999999999"),
        ("--batch-size", "99999999999"),
    ],
)
def test_train_flags_no_run_can_use_are_refused_before_anything_starts(tmp_path: Path, flag: str, value: str) -> None:
    out = tmp_path / "run.yaml"
    assert_clean_error(run_inprocess("train", "--demo", flag, value, "--save-config", str(out)), "in command line")
    assert not out.exists()


def test_data_and_train_accept_the_same_max_length(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(jsonl(ROWS), encoding="utf-8")
    data_line = assert_clean_error(run_inprocess("data", str(path), "--max-length", "99999999999"), "data.max_length")
    train_line = assert_clean_error(
        run_inprocess("train", "--demo", "--max-length", "99999999999", "--save-config", str(tmp_path / "o.yaml")),
        "data.max_length",
    )
    assert data_line == train_line


def test_a_bad_value_is_quoted_as_a_short_excerpt_never_whole() -> None:
    for data in ({"training": {"epochs": "x" * 100_000}}, {"name": [["x" * 1_000] * 1_000]}, {"x" * 10_000: 1}):
        with pytest.raises(InvalidConfigError) as caught:
            parse_config(data)
        assert len(str(caught.value)) < SHORT, str(caught.value)[:SHORT]


def test_text_that_is_not_valid_unicode_is_refused_by_the_config(tmp_path: Path) -> None:
    # Linux hands a file name's undecodable byte to Python as a lone surrogate: it could not be
    # written to config.yaml or to the store later.
    out = tmp_path / "run.yaml"
    assert_clean_error(
        run_inprocess("train", "--demo", "--name", "run-\udcff", "--save-config", str(out)), "name", "not valid Unicode"
    )
    assert not out.exists()


# --- where results are written --------------------------------------------------------------
def test_save_config_into_a_folder_or_under_a_file_is_one_line(tmp_path: Path) -> None:
    assert_clean_error(
        run_inprocess("train", "--demo", "--save-config", str(tmp_path)),
        "Cannot write the configuration",
        "it is a folder",
    )
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    assert_clean_error(
        run_inprocess("train", "--demo", "--save-config", str(a_file / "run.yaml")),
        "Cannot write the configuration",
        "a file stands where a folder",
    )


def test_save_config_to_a_new_folder_creates_it(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "run.yaml"
    result = run_inprocess("train", "--demo", "--save-config", str(out))
    assert result.returncode == 0 and result.traceback is None, result.stderr
    assert load_config(out).model.name_or_path == "tuitune/demo"


def test_recommend_output_into_a_folder_is_one_line(tmp_path: Path, demo_model_path: Path) -> None:
    assert_clean_error(
        run_inprocess("recommend", "tuitune/demo", "--output", str(tmp_path)),
        "Cannot write the configuration",
        "it is a folder",
    )


@pytest.mark.parametrize(
    "command", [["merge", "r" * 10_000, "OUT"], ["upload", "r" * 10_000, "someone/model", "--dry-run"]]
)
def test_a_10000_character_run_or_folder_is_refused_in_a_short_line(tmp_path: Path, command: list[str]) -> None:
    argv = [str(tmp_path / "out") if arg == "OUT" else arg for arg in command]
    line = assert_clean_error(run_inprocess(*argv), "neither a run nor a folder", "File name too long")
    assert len(line) < SHORT


def test_eval_refuses_more_new_tokens_than_the_config_allows() -> None:
    assert_clean_error(run_inprocess("eval", "1", "--max-new-tokens", "99999999999"), "--max-new-tokens", code=2)


@pytest.mark.integration  # the real CLI, in a child process
def test_a_shell_user_sees_one_line_for_a_deep_json_file(tmp_path: Path) -> None:
    # The same story through the installed command in a fresh interpreter, as typed in a shell.
    path = tmp_path / "deep.json"
    path.write_text("[" * 1_000 + "]" * 1_000, encoding="utf-8")
    result = cli("data", str(path), timeout=120)
    assert_one_line_error(result, "nested more than")
    assert result.stdout == ""
