"""A run's lineage: what data (by content), model (by weights), versions and git commit it came
from; compare says where two runs' differ, and `tuitune rerun` warns what has changed since.

The fingerprints are taken of real files and a real git repository in a temp folder; the runs are
created through the launcher (the compare tests train nothing), and one trains two steps of the
demo model so its weights are hashed by the worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import run_inprocess
from tests.helpers import cli
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.engine import launcher
from tuitune.runs import lineage
from tuitune.runs.compare import compare_runs
from tuitune.store import QUEUED, open_store

ROWS = [{"instruction": f"Say {word}.", "output": word} for word in ("yes", "no", "maybe", "later")]


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def config_on(data: Path, name: str = "lineage", steps: int = 2) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("full_finetuning")
        .data(str(data), max_length=64)
        .training(max_steps=steps, logging_steps=1, save_steps=1000)
        .build()
    )


# --- fingerprints --------------------------------------------------------------------------


def test_a_data_file_is_known_by_its_content_and_a_change_gives_another_hash(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", ROWS)
    first = lineage.file_fingerprint(data)
    assert first["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert first["hashed"] is True and first["size"] == data.stat().st_size and first["name"] == "train.jsonl"
    write_rows(data, ROWS[:2])
    assert lineage.file_fingerprint(data)["sha256"] != first["sha256"]


def test_a_file_over_the_limit_is_known_by_its_size_and_mtime_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lineage, "HASH_LIMIT_BYTES", 10)  # the limit itself is 256 MiB: a small one here
    entry = lineage.file_fingerprint(write_rows(tmp_path / "big.jsonl", ROWS))
    assert entry["hashed"] is False and entry["sha256"] is None
    assert entry["size"] > 10 and entry["mtime"]
    assert lineage.data_words(entry).startswith("not hashed (too big)")
    gone = lineage.file_fingerprint(tmp_path / "gone.jsonl")
    assert gone["missing"] is True


def test_a_models_weights_hash_covers_its_weights_and_not_their_mtimes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\x01" * 4096)
    (model / "README.md").write_text("not weights")
    first = lineage.folder_fingerprint(model, weights=True)
    assert first["files"] == 1 and first["hash"] == "full" and first["sha256"]
    os.utime(model / "model.safetensors", (1, 1))  # a copy keeps the bytes, not the mtime
    (model / "README.md").write_text("still not weights")
    assert lineage.folder_fingerprint(model, weights=True)["sha256"] == first["sha256"]
    (model / "model.safetensors").write_bytes(b"\x02" * 4096)
    assert lineage.folder_fingerprint(model, weights=True)["sha256"] != first["sha256"]
    monkeypatch.setattr(lineage, "HASH_LIMIT_BYTES", 1024)
    assert lineage.folder_fingerprint(model, weights=True)["hash"] == "sampled"
    # The limit holds for the folder as a whole: two files each under it, together over it.
    monkeypatch.setattr(lineage, "HASH_LIMIT_BYTES", 6000)
    (model / "model-2.safetensors").write_bytes(b"\x03" * 4096)
    assert lineage.folder_fingerprint(model, weights=True)["hash"] == "sampled"


def test_the_sources_a_config_reads_are_fingerprinted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bundled,) = lineage.data_fingerprints({"source": "tuitune/sample"})
    assert bundled["bundled"] == "tuitune/sample" and bundled["sha256"]
    one, two = (write_rows(tmp_path / name, ROWS) for name in ("a.jsonl", "b.jsonl"))
    files = lineage.data_fingerprints({"source": "json", "data_files": [str(one), str(two)]})
    assert [entry["name"] for entry in files] == ["a.jsonl", "b.jsonl"]
    (folder,) = lineage.data_fingerprints({"source": str(tmp_path)})
    assert folder["kind"] == "folder" and folder["files"] == 2
    # A Hub dataset with the Hub switched off: its id, an unknown revision, and no failure.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (hub,) = lineage.data_fingerprints({"source": "someone/some-dataset"})
    assert hub == {"kind": "hub", "id": "someone/some-dataset", "revision": None, "resolved": False}


@pytest.mark.integration  # git runs as a child process
def test_the_git_commit_of_a_repository_is_recorded_and_a_plain_folder_has_none(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    environment["GIT_COMMITTER_EMAIL"] = "t@t"

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, env=environment, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    (repo / "train.py").write_text("print('v1')\n")
    git("add", "train.py")
    git("commit", "-q", "-m", "v1")
    commit = git("rev-parse", "HEAD").strip()
    # Read from the repository's files (no git process), from a folder inside it too.
    (repo / "sub").mkdir()
    assert lineage.git_state(repo / "sub") == {"commit": commit, "dirty": None, "folder": str(repo.resolve())}
    assert lineage.git_state(repo, dirty=True) == {"commit": commit, "dirty": False, "folder": str(repo.resolve())}
    (repo / "train.py").write_text("print('v2')\n")
    assert lineage.git_state(repo, dirty=True)["dirty"] is True  # type: ignore[index]
    git("pack-refs", "--all")  # a branch kept only in packed-refs
    assert lineage.git_state(repo)["commit"] == commit  # type: ignore[index]
    git("checkout", "-q", "--detach")
    assert lineage.git_state(repo)["commit"] == commit  # type: ignore[index]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert lineage.git_state(plain) is None


@pytest.mark.integration  # a fresh interpreter
def test_reading_the_versions_imports_no_training_stack() -> None:
    code = (
        "import sys; from tuitune.runs import lineage; found = lineage.versions(); "
        "assert found['python'] and 'transformers' in found; "
        "assert not {'torch', 'transformers', 'peft', 'datasets'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- in words --------------------------------------------------------------------------------


def lineage_of(sha: str, transformers: str, commit: str, dirty: bool = False) -> dict:
    data = {"kind": "file", "path": "/d/train.jsonl", "name": "train.jsonl", "sha256": sha, "hashed": True}
    data |= {"size": 2_100_000, "mtime": "2026-12-01T10:00:00+00:00"}
    return {
        "data": [data],
        "versions": {"python": "3.11.7", "transformers": transformers},
        "git": {"commit": commit, "dirty": dirty},
        "model": {"kind": "folder", "sha256": sha * 2},
    }


def test_the_differences_are_said_in_words() -> None:
    three = lineage_of("ab12" * 16, "5.24.0", "a1b2c3d" + "0" * 33)
    five = lineage_of("cd34" * 16, "5.25.0", "d4e5f6a" + "0" * 33, dirty=True)
    found = lineage.differences([("run 3", three), ("run 5", five)])
    assert found == [
        "these runs trained on different versions of train.jsonl (run 3: sha256 ab12ab12ab12…, 2.1 MB, modified "
        "2026-12-01; run 5: sha256 cd34cd34cd34…, 2.1 MB, modified 2026-12-01)",
        "transformers 5.24.0 vs 5.25.0",
        "git commit a1b2c3d vs d4e5f6a (dirty)",
        f"model weights differ (run 3: weights sha256 {'ab12' * 3}…; run 5: weights sha256 {'cd34' * 3}…)",
    ]
    assert lineage.differences([("run 3", three), ("run 4", three)]) == []
    assert lineage.differences([("run 1", {}), ("run 3", three), ("run 4", three)]) == [
        "no lineage recorded for run 1 (trained before tuitune recorded it)"
    ]


def test_what_changed_since_a_run_is_said_in_words() -> None:
    old = lineage_of("ab12" * 16, "5.24.0", "a" * 40)
    now = lineage_of("cd34" * 16, "5.25.0", "a" * 40)
    assert lineage.changes_since(old, now, "run 3") == [
        f"train.jsonl has changed since run 3 trained on it (sha256 {'ab12' * 3}… → {'cd34' * 3}…)",
        "transformers 5.24.0 → 5.25.0 since run 3",
    ]
    assert lineage.changes_since(old, old, "run 3") == []
    assert "no lineage recorded" in lineage.changes_since({}, now, "run 1")[0]


# --- runs --------------------------------------------------------------------------------------


def test_two_runs_on_a_changed_file_compare_as_different_versions_of_it(tmp_path: Path) -> None:
    data = write_rows(tmp_path / "train.jsonl", ROWS)
    store = open_store()
    first = launcher.create_run(config_on(data), store=store)
    write_rows(data, ROWS[:3])
    second = launcher.create_run(config_on(data), store=store)
    assert first.lineage["data"][0]["sha256"] != second.lineage["data"][0]["sha256"]
    assert first.lineage["versions"]["tuitune"] and "git" in first.lineage

    comparison = compare_runs([first, second], store, curves=False)
    (words,) = comparison.lineage_differences
    assert words.startswith("these runs trained on different versions of train.jsonl (run 1: sha256 ")

    printed = run_inprocess("compare", str(first.id), str(second.id), "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["lineage_differences"] == [words]
    text = run_inprocess("compare", str(first.id), str(second.id))
    assert "different versions of train.jsonl" in " ".join(text.stdout.split())
    shown = json.loads(run_inprocess("show", str(first.id), "--json").stdout)
    assert shown["lineage"]["data"][0]["sha256"] == first.lineage["data"][0]["sha256"]
    assert "sha256" in run_inprocess("show", str(first.id)).stdout


def test_a_run_with_no_stored_configuration_is_not_rerun() -> None:
    store = open_store()
    run = store.create_run(name="old", config={}, model="m", method="lora", dataset="d")
    result = run_inprocess("rerun", str(run.id))
    assert result.returncode == 1 and "has no stored configuration" in result.stderr


@pytest.mark.integration  # the queue's keeper starts as the rerun waits in line
def test_a_rerun_after_the_data_changed_warns_and_queues_the_same_configuration(tmp_path: Path) -> None:
    from tuitune.engine import queue

    data = write_rows(tmp_path / "train.jsonl", ROWS)
    store = open_store()
    queue.pause(store)  # nothing trains here: the rerun waits in line
    old = launcher.create_run(config_on(data), store=store)
    write_rows(data, ROWS[:1])

    result = run_inprocess("rerun", str(old.id), "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    (warning,) = answer["warnings"]
    assert warning.startswith(f"train.jsonl has changed since run {old.id} trained on it (sha256 ")
    assert result.stderr.startswith(f"warning: train.jsonl has changed since run {old.id}")
    new = store.get_run(answer["run_id"])
    assert answer["rerun_of"] == old.id and new.status == QUEUED and new.in_queue
    assert new.name == "lineage-rerun" and new.output_dir != old.output_dir
    assert new.lineage["rerun_of"] == old.id
    same = {key: value for key, value in new.config.items() if key != "name"}
    assert same == {key: value for key, value in old.config.items() if key != "name"}
    events = [(event.level, event.message) for event in store.events(new.id)]
    assert ("warning", warning) in events

    # Text: the warning on stderr, where it waits on stdout; a rerun of a rerun is `-rerun` again.
    text = run_inprocess("rerun", str(new.id))
    assert text.returncode == 0 and "a rerun of run" in text.stdout and "in line" in text.stdout
    assert max(store.list_runs(), key=lambda run: run.id).name == "lineage-rerun-2"
    for run in store.queued_runs():
        launcher.cancel(run, store=store)


@pytest.mark.slow
@pytest.mark.integration
def test_a_trained_run_records_the_demo_models_weights_hash_and_compare_names_the_changed_data(
    tmp_path: Path,
) -> None:
    data = write_rows(tmp_path / "train.jsonl", ROWS)
    first = launcher.launch(config_on(data, steps=1))
    from tests.helpers import wait_for_status

    done = wait_for_status(first.id, {"completed", "failed", "crashed"})
    assert done.status == "completed", done.error
    model = done.lineage["model"]
    assert model["demo"] is True and model["sha256"] and model["files"] >= 1
    write_rows(data, ROWS[:2])
    result = cli("rerun", str(done.id), "--now", "--json")
    assert result.returncode == 0, result.stderr
    rerun = json.loads(result.stdout)
    assert any(line.startswith("train.jsonl has changed") for line in rerun["warnings"])
    again = wait_for_status(rerun["run_id"], {"completed", "failed", "crashed"})
    assert again.status == "completed", again.error
    found = compare_runs([done, again], open_store(), curves=False).lineage_differences
    assert found and found[0].startswith("these runs trained on different versions of train.jsonl")
    assert not any(line.startswith("model weights differ") for line in found)  # the same demo model


@pytest.mark.integration  # a real `tuitune serve`
def test_the_api_reruns_a_run_and_refuses_one_whose_data_it_may_not_read(tuitune_home: Path, tmp_path: Path) -> None:
    from tests.helpers import running_server
    from tuitune.client import Client, ClientError
    from tuitune.engine import queue

    store = open_store()
    queue.pause(store)
    inside = tuitune_home / "data"
    inside.mkdir()
    allowed = launcher.create_run(config_on(write_rows(inside / "train.jsonl", ROWS)), store=store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    refused = launcher.create_run(config_on(write_rows(elsewhere / "train.jsonl", ROWS)), store=store)
    write_rows(inside / "train.jsonl", ROWS[:2])
    with running_server("--data-root", str(tuitune_home), home=tuitune_home) as url, Client(url) as client:
        answer = client.rerun(allowed.id)
        assert answer["rerun_of"] == allowed.id and answer["in_queue"] is True
        assert answer["warnings"][0].startswith(f"train.jsonl has changed since run {allowed.id}")
        assert client.run(answer["id"])["lineage"]["rerun_of"] == allowed.id
        with pytest.raises(ClientError) as error:
            client.rerun(refused.id)
        assert error.value.status == 422 and "is outside" in str(error.value)  # as POST /runs refuses it
    for run in store.queued_runs():
        launcher.cancel(run, store=store)
