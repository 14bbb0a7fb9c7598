"""What users type is shown as they typed it: never read as markup, never sent to the terminal as
control sequences; run references and counts that make no sense get one clear line."""

from __future__ import annotations

import pytest

from tests.helpers import assert_one_line_error, cli, cli_json
from tuitune.store import FAILED, open_store

pytestmark = pytest.mark.integration  # every case runs the real CLI in a child process

NAMES = ["exp[/]1", "[red]x", "[link=file:///etc/passwd]y[/link]", "[bold]z", "a[/INST]b"]


@pytest.fixture
def odd_runs(tuitune_home) -> list[int]:
    store = open_store()
    ids = []
    for name in NAMES:
        run = store.create_run(name=name, config={}, model="org/model[/]", method="lora", dataset="data[red].jsonl")
        store.set_status(run.id, FAILED, error="[/INST] went wrong [/] at [bold]step 3")
        ids.append(run.id)
    return ids


def test_runs_show_compare_and_delete_print_names_and_errors_literally(odd_runs: list[int]) -> None:
    listed = cli("runs")
    assert listed.returncode == 0, listed.stderr
    for name in NAMES:
        assert name in listed.stdout
    assert "\x1b]8;" not in listed.stdout  # no hyperlink escape

    for run_id, name in zip(odd_runs, NAMES):
        shown = cli("show", str(run_id))
        assert shown.returncode == 0, shown.stderr
        assert name in shown.stdout
        assert "[/INST] went wrong [/] at [bold]step 3" in shown.stdout
        assert "data[red].jsonl" in shown.stdout

    compared = cli("compare", str(odd_runs[0]), str(odd_runs[1]))
    assert compared.returncode == 0, compared.stderr
    assert NAMES[0] in compared.stdout and NAMES[1] in compared.stdout

    deleted = cli("delete", NAMES[0], "--yes")
    assert deleted.returncode == 0 and NAMES[0] in deleted.stdout


def test_escape_characters_in_stored_text_never_reach_the_terminal(tuitune_home) -> None:
    store = open_store()
    run = store.create_run(name="evil\x1b[2J\x1b]0;owned\x07", config={}, model="m", method="lora", dataset="d")
    store.set_status(run.id, FAILED, error="bad \x1b[31mred\x1b[0m")
    for argv in (["runs"], ["show", str(run.id)]):
        result = cli(*argv)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "\\x1b" in result.stdout  # shown, escaped, so the user sees something is odd


@pytest.mark.parametrize("ref", ["²", "①", "99999999999999999999999999", "x" * 10_000, "-1"])
def test_a_run_reference_that_names_no_run_is_one_line(ref: str, tuitune_home) -> None:
    open_store().create_run(name="real", config={}, model="m", method="lora", dataset="d")
    for command in ("show", "logs", "cancel", "resume", "delete"):
        result = cli(command, ref, *(["--yes"] if command == "delete" else []))
        assert result.returncode in (1, 2), (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, (command, result.stderr[-2000:])
        assert len(lines[0]) < 400, (command, "the whole reference was echoed back")


def test_counts_that_make_no_sense_are_refused_or_honoured(tuitune_home) -> None:
    store = open_store()
    run = store.create_run(name="one", config={}, model="m", method="lora", dataset="d")
    store.set_status(run.id, FAILED, error="x")
    assert_one_line_error(cli("runs", "--limit", "0"), "--limit must be at least 1", code=2)
    assert [r["id"] for r in cli_json("runs", "--limit", str(2**63))] == [run.id]
    assert_one_line_error(cli("runs", "--status", ""), "Unknown status", code=2)
    assert_one_line_error(cli("runs", "--limit", "abc"), "--limit", code=2)

    log = tuitune_home / "runs" / "log-of-one" / "worker.log"
    log.parent.mkdir(parents=True)
    log.write_text("line 1\nline 2\nline 3\n")
    store.update_run(run.id, output_dir=str(log.parent))
    assert cli("logs", "one", "-n", "0").stdout == ""
    assert cli("logs", "one", "-n", "2").stdout == "line 2\nline 3\n"
    assert cli("logs", "one", "-n", "99").stdout == "line 1\nline 2\nline 3\n"
    assert_one_line_error(cli("logs", "one", "-n", "-5"), "--lines must be 0 or more", code=2)


def test_names_with_control_characters_are_refused(tuitune_home) -> None:
    result = cli("train", "--demo", "--name", "bad\x1bname", "--detach")
    assert_one_line_error(result, "name")
    assert open_store().count_runs() == 0
