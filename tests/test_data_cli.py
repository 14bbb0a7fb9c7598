"""`tuitune data` from a shell: what a user sees, what a script parses, and how bad data is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # the real tuitune data command, in a child process

ROWS = [
    {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    {"instruction": "Translate.", "input": "Bonjour", "output": "Hello"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Count to three.", "input": "", "output": "One, two, three."},
]


def tuitune(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tuitune", *args], capture_output=True, text=True, timeout=120)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_report_shows_format_rows_previews_and_statistics(tmp_path: Path, demo_model_path: Path) -> None:
    result = tuitune("data", str(write_jsonl(tmp_path / "d.jsonl", ROWS)))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "alpaca" in out and "instruction, input, output" in out
    assert "4 read" in out
    assert out.count("Sample ") == 3
    assert "<|im_start|>assistant" in out and "Hi!<|im_end|><|endoftext|>" in out
    for label in ("mean / p50 / p95 / max", "truncated at max length 512", "length-grouped batches", "packed batches"):
        assert label in out


def test_json_report_is_one_document_with_the_keys(tmp_path: Path, demo_model_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    result = tuitune(
        "data", str(path), "--json", "--model", str(demo_model_path), "--template", "alpaca", "--max-length", "64"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert document["format"] == "alpaca" and document["rows"] == 4
    assert document["columns"] == ["instruction", "input", "output"]
    assert set(document["tokens"]) >= {"mean", "p50", "p95", "max"}
    assert document["template"] == "alpaca" and document["max_length"] == 64
    assert len(document["previews"]) == 3
    first = document["previews"][0]["segments"]
    assert [s["trained"] for s in first] == [False, True] and first[1]["text"] == "Hi!<|endoftext|>"


def test_convert_writes_jsonl(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "d.jsonl", ROWS)
    out = tmp_path / "chat.jsonl"
    result = tuitune("data", str(source), "--to", "chat", "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "source": str(source),
        "from_format": "alpaca",
        "to_format": "chat",
        "rows": 4,
        "skipped": {},
        "output": str(out),
    }
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"messages": [{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]}


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    malformed = tmp_path / "broken.jsonl"
    malformed.write_text(json.dumps(ROWS[0]) + "\n" + '{"instruction": "oops"\n', encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("id,score\n1,0.5\n2,0.25\n", encoding="utf-8")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "caf\u00e9"}\n'.encode("latin-1"))
    return {
        "malformed": (malformed, "broken.jsonl line 2: invalid JSON"),
        "missing": (tmp_path / "missing.jsonl", "missing.jsonl does not exist"),
        "empty": (empty, "empty.jsonl is empty"),
        "no text": (numbers, "has no column with text"),
        "not utf-8": (latin, "is not UTF-8 text"),
    }


@pytest.mark.parametrize("case", ["malformed", "missing", "empty", "no text", "not utf-8"])
def test_bad_input_is_one_line_exit_1_no_traceback(tmp_path: Path, case: str) -> None:
    path, message = _bad_inputs(tmp_path)[case]
    result = tuitune("data", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    source = str(write_jsonl(tmp_path / "d.jsonl", ROWS))
    result = tuitune("data", source, "--to", "chat")
    assert result.returncode == 2 and "needs both --to FORMAT and -o" in result.stderr
    result = tuitune("data", source, "--format", "yaml")
    assert result.returncode == 2 and "--format 'yaml' is not one of" in result.stderr


def test_the_command_module_is_light_to_import() -> None:
    code = (
        "import sys, tuitune.cli.data_cmd; "
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
