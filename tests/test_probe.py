"""The wizard's warm probe process: one child for every probe, first rows sent ahead, answers cached per file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tuitune._dev.sample_data import alpaca_rows
from tuitune.probe.client import ProbeClient, ProbeError

pytestmark = pytest.mark.integration  # the app's helper is a child process


@pytest.fixture
def helper():
    helper = ProbeClient()
    yield helper
    helper.stop()


def test_the_first_rows_come_ahead_and_an_unchanged_file_is_answered_from_the_cache(
    tmp_path: Path, helper: ProbeClient, demo_model_path
):
    data = alpaca_rows(tmp_path / "rows.jsonl", 1000)
    first_rows: list[dict] = []
    preview = helper.request("data", {"source": str(data)}, on_partial=first_rows.append)
    # The format, the count and the rows as read arrive before the tokens are counted.
    assert [(rows["format"], rows["rows"]) for rows in first_rows] == [("alpaca", 1000)]
    assert "Say hello to person 0." in first_rows[0]["samples"][0]
    assert preview["rows"] == 1000 and preview["format"] == "alpaca" and len(preview["previews"]) == 3

    again: list[dict] = []
    assert helper.request("data", {"source": str(data)}, on_partial=again.append) == preview
    assert again == []  # nothing was read again

    alpaca_rows(data, 10, start=1000)  # the file changes: its size and time say so
    assert helper.request("data", {"source": str(data)})["rows"] == 1010


def test_one_child_answers_every_probe_says_why_in_one_line_and_comes_back_if_killed(
    tmp_path: Path, helper: ProbeClient, demo_model_path
):
    described = helper.request("model", {"name": "tuitune/demo"})
    assert described["model"]["architecture"] == "LlamaForCausalLM"
    pid = helper.pid
    assert pid is not None
    with pytest.raises(ProbeError, match="does not exist"):
        helper.request("data", {"source": str(tmp_path / "missing.jsonl")})
    assert helper.pid == pid  # a failed probe does not cost the warm process

    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: helper.pid is None, timeout=10, what="the helper to go")
    assert helper.request("model", {"name": "tuitune/demo"}) == described  # kept on disk: no child needed
    preview = helper.request("data", {"source": str(alpaca_rows(tmp_path / "rows.jsonl", 10))})
    assert preview["rows"] == 10 and helper.pid not in (None, pid)  # a new child answered


def test_a_model_read_in_an_earlier_session_is_shown_at_once_and_read_again_when_it_changes(
    tmp_path: Path, demo_model_path
) -> None:
    import shutil

    folder = tmp_path / "my-model"
    shutil.copytree(demo_model_path, folder)
    first = ProbeClient()
    try:
        described = first.request("model", {"name": str(folder)})
        assert first.pid is not None  # the first read ever needs the helper
    finally:
        first.stop()
    later = ProbeClient()  # the next session of the app
    try:
        assert later.request("model", {"name": str(folder)}) == described
        assert later.pid is None  # answered from disk: no process started, no training stack imported
        config = folder / "config.json"
        config.write_text(config.read_text().replace('"num_hidden_layers": 2', '"num_hidden_layers": 1'))
        changed = later.request("model", {"name": str(folder)})
        assert later.pid is not None and changed["model"]["num_layers"] == 1
    finally:
        later.stop()
