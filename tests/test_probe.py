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


def test_data_is_read_for_the_objective_its_format_suggests_or_the_one_named_and_refused_in_one_line(
    helper: ProbeClient, demo_model_path
):
    from tuitune.bundled import SAMPLE_DATASET, SAMPLE_PREFERENCE, SAMPLE_PROMPTS

    first_rows: list[dict] = []
    pairs = helper.request("data", {"source": SAMPLE_PREFERENCE}, on_partial=first_rows.append)
    # Pairs suggest dpo and are read for it: each preview is a pair, and the first rows come as pairs.
    assert pairs["objective"] == pairs["suggested_objective"] == "dpo" and pairs["format"] == "preference"
    assert {"prompt", "chosen", "rejected", "chosen_tokens"} <= set(pairs["previews"][0]["pair"])
    assert {"prompt", "chosen", "rejected"} <= set(first_rows[0]["pairs"][0])
    # Named kto, the same pairs are labelled answers.
    kto = helper.request("data", {"source": SAMPLE_PREFERENCE, "objective": "kto"})
    assert kto["objective"] == "kto" and "label" in kto["previews"][0]["pair"]
    prompts = helper.request("data", {"source": SAMPLE_PROMPTS})
    assert prompts["objective"] == "grpo" and prompts["previews"][0]["pair"]["columns"] == {"answer": "0"}
    assert helper.request("data", {"source": SAMPLE_DATASET})["suggested_objective"] == "sft"
    # Data the named objective cannot learn from: the data layer's refusal, in one line.
    with pytest.raises(ProbeError) as refused:
        helper.request("data", {"source": SAMPLE_DATASET, "objective": "dpo"})
    assert str(refused.value).startswith("dpo learns from pairs: the data needs") and "\n" not in str(refused.value)
    with pytest.raises(ProbeError, match="set preference.chosen_only"):
        helper.request("data", {"source": SAMPLE_PREFERENCE, "objective": "sft"})
    chosen = helper.request("data", {"source": SAMPLE_PREFERENCE, "objective": "sft", "chosen_only": True})
    assert chosen["objective"] == "sft" and "pair" not in chosen["previews"][0]
