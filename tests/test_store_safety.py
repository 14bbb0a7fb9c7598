"""The history is safe: it lives in `tuitune.db` itself, can be backed up and checked, and a
damaged, emptied, read-only or full store is explained in one line while reading goes on."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import (
    assert_one_line_error,
    cli,
    cli_json,
    make_read_only,
    small_disk,
    wait_for,
    wait_for_status,
)
from tuitune.config import ConfigBuilder
from tuitune.store import COMPLETED, FAILED, open_store

pytestmark = pytest.mark.integration  # the real CLI in child processes; small disks mounted

TINY = ["--demo", "--max-steps", "2", "--max-length", "64"]


def runs_in(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.mark.slow
def test_the_store_file_alone_holds_the_history_once_every_process_is_gone(
    tmp_path: Path, tuitune_home: Path, demo_model_path: Path
) -> None:
    for _ in range(2):
        assert cli_json("train", *TINY)["status"] == COMPLETED
    assert cli("runs").returncode == 0
    # Every tuitune process has exited. A copy of tuitune.db alone (a backup, an scp) is complete.
    copy = tmp_path / "copy.db"
    shutil.copy(tuitune_home / "tuitune.db", copy)
    assert runs_in(copy) == 2
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT count(*) FROM metric_points").fetchone()[0] > 0
    wal = tuitune_home / "tuitune.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.slow
def test_backup_while_a_run_trains_is_a_complete_checked_store(tmp_path: Path, demo_model_path: Path) -> None:
    started = cli_json("train", "--demo", "--max-steps", "100000", "--max-length", "64", "--detach")
    store = open_store()
    wait_for(lambda: store.metric_points(started["run_id"]), what="the first metric point")
    backups = tmp_path / "backups"
    backups.mkdir()
    written = cli_json("store", "backup", str(backups))
    assert cli("cancel", str(started["run_id"]), "--wait").returncode == 0

    copy = Path(written["backup"])
    assert copy.parent == backups and copy.stat().st_mode & 0o077 == 0
    assert runs_in(copy) == 1
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert_one_line_error(cli("store", "backup", str(copy)), "already exists", "--force")
    assert cli("store", "backup", str(copy), "--force").returncode == 0


def test_store_check_reports_a_healthy_store(tuitune_home: Path) -> None:
    open_store().create_run(name="a", config={}, model="m", method="lora", dataset="d")
    health = cli_json("store", "check")
    assert health["ok"] is True and health["runs"] == 1 and health["problems"] == []


def test_store_check_names_a_run_whose_steps_were_trained_twice(tuitune_home: Path) -> None:
    store = open_store()
    twice, resumed = (
        store.create_run(name=name, config={}, model="m", method="lora", dataset="d") for name in ("twice", "resumed")
    )
    # Two groups writing the same run at once, and a run resumed the way tuitune does it.
    store.add_metric_points(twice.id, [{"step": step, "loss": 1.0} for step in range(1, 6)])
    store.add_metric_points(twice.id, [{"step": step, "loss": 0.9} for step in range(3, 8)])
    store.add_metric_points(resumed.id, [{"step": step, "loss": 1.0} for step in range(1, 6)])
    store.delete_metric_points_after(resumed.id, 2)
    store.add_metric_points(resumed.id, [{"step": step, "loss": 0.9} for step in range(3, 8)])
    store.add_metric_points(resumed.id, [{"step": 4, "eval_loss": 0.8}])  # an eval point beside a step
    result = cli("store", "check")
    assert result.returncode == 1
    assert f"run {twice.id} has 3 training steps recorded more than once (from step 3)" in result.stdout
    assert f"run {resumed.id} " not in result.stdout
    health = json.loads(cli("store", "check", "--json").stdout)
    assert health["ok"] is True and len(health["findings"]) == 1 and "see the findings" in health["advice"]


def _damage_index(database: Path) -> None:
    """Zero the cells of the run-name index: the table is intact, the index no longer matches."""
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs_name'").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(database.read_bytes())
    start = (page - 1) * page_size
    data[start + page_size // 2 : start + page_size] = bytes(page_size - page_size // 2)
    database.write_bytes(bytes(data))


def test_a_damaged_store_is_explained_and_check_says_what_to_do(tuitune_home: Path) -> None:
    store = open_store()
    for index in range(40):
        store.create_run(name=f"run-{index}", config={"n": index}, model="m", method="lora", dataset="d")
    store.close()
    database = tuitune_home / "tuitune.db"
    with sqlite3.connect(database) as connection:
        # Text that is no longer UTF-8: SQLite's own checks pass it, reading it fails.
        connection.execute("UPDATE runs SET config = CAST(x'7b2261223aff' AS TEXT) WHERE id = 3")
    _damage_index(database)

    result = cli("runs")
    assert_one_line_error(result, "is damaged", "tuitune store check")
    checked = cli("store", "check")
    assert checked.returncode == 1 and "Traceback" not in checked.stderr
    assert "runs row 3: config is not readable text" in checked.stdout
    assert "runs_name" in checked.stdout and ".recover" in checked.stdout


def test_an_emptied_store_file_is_not_taken_for_a_new_store(tuitune_home: Path) -> None:
    (tuitune_home / "tuitune.db").write_bytes(b"")
    assert_one_line_error(cli("runs"), "empty file", "restore it from a backup")
    assert (tuitune_home / "tuitune.db").stat().st_size == 0  # left as it was, for the user to decide


@pytest.mark.slow
def test_a_read_only_store_can_still_be_read(
    tmp_path: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "share", 64) as disk:
        home = disk / "home"
        monkeypatch.setenv("TUITUNE_HOME", str(home))
        assert cli("runs").returncode == 0
        (home / "models").symlink_to(demo_model_path.parent, target_is_directory=True)
        run = cli_json("train", *TINY)
        make_read_only(disk)

        listed = cli_json("runs")
        assert [entry["run_id"] if "run_id" in entry else entry["id"] for entry in listed] == [run["run_id"]]
        shown = cli("show", "last")
        assert shown.returncode == 0 and "completed" in shown.stdout
        logs = cli("logs", "last", "-n", "1")
        assert logs.returncode == 0 and "completed" in logs.stdout
        assert_one_line_error(cli("train", *TINY), "read-only")
        assert_one_line_error(cli("delete", "last", "--yes"), "read-only")


@pytest.mark.serial  # the worker must record the full disk before the run looks crashed: on two busy workers it did not, twice
@pytest.mark.slow
def test_a_full_disk_fails_the_run_in_words_and_resume_goes_on_once_there_is_room(
    tmp_path: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "small", 48) as disk:
        home = disk / "home"
        monkeypatch.setenv("TUITUNE_HOME", str(home))
        assert cli("runs").returncode == 0
        (home / "models").symlink_to(demo_model_path.parent, target_is_directory=True)
        config = tmp_path / "run.yaml"
        ConfigBuilder().demo().method("full_finetuning").data(max_length=64).training(
            max_steps=100_000, save_steps=2, save_total_limit=1, logging_steps=1, learning_rate=1e-3
        ).build().save(config)
        started = cli_json("train", "--config", str(config), "--detach")
        run_id = started["run_id"]
        folder = Path(started["output_dir"])
        wait_for(
            lambda: list((folder / "checkpoints").glob("checkpoint-*/trainer_state.json")),
            what="a checkpoint",
            timeout=180,
        )

        filler = disk / "filler"
        with open(filler, "wb") as handle:  # take every byte that is left
            try:
                while True:
                    handle.write(b"\0" * (1 << 20))
                    handle.flush()
            except OSError:
                pass
        run = wait_for_status(run_id, {FAILED, COMPLETED, "crashed", "cancelled"}, timeout=180)
        assert run.status == FAILED, run
        assert run.error is not None
        assert "No space left on the disk mounted at" in run.error and f"tuitune resume {run_id}" in run.error
        assert "Traceback" not in (folder / "worker.log").read_text(errors="replace").split("[error]")[-1]

        # While the disk is still full, the history can be read.
        assert cli("runs").returncode == 0
        shown = cli_json("show", str(run_id))
        assert shown["status"] == FAILED

        # The steps said are the steps trained, though the disk refused the heartbeat's last word.
        steps = shown["steps_done"]
        assert steps >= int(Path(shown["checkpoint"]).name.removeprefix("checkpoint-")) > 0
        filler.unlink()
        resumed = cli_json("resume", str(run_id), "--max-steps", str(steps + 4), timeout=300)
        assert resumed["status"] == COMPLETED and resumed["steps_completed"] == steps + 4


def test_store_check_on_a_read_only_disk_calls_a_healthy_store_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with small_disk(tmp_path / "share", 16) as disk:
        home = disk / "home"
        monkeypatch.setenv("TUITUNE_HOME", str(home))
        store = open_store()
        store.create_run(name="a", config={}, model="m", method="lora", dataset="d")
        store.close()  # the last connection folds the WAL back and removes its files
        make_read_only(disk)

        health = cli_json("store", "check")
        assert health["ok"] is True and health["read_only"] is True
        assert health["problems"] == [] and health["runs"] == 1
        checked = cli("store", "check")
        assert checked.returncode == 0 and "Traceback" not in checked.stderr
        assert "is healthy (read-only here)" in checked.stdout and "damaged" not in checked.stdout
        assert ".recover" not in checked.stdout


def test_backup_into_a_folder_that_does_not_exist_writes_nothing(tmp_path: Path, tuitune_home: Path) -> None:
    open_store().create_run(name="a", config={}, model="m", method="lora", dataset="d")
    missing = tmp_path / "backups"
    assert_one_line_error(cli("store", "backup", f"{missing}/"), "folder", "does not exist")
    assert not missing.exists()
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("mine")
    assert_one_line_error(cli("store", "backup", f"{not_a_folder}/", "--force"), "is not a folder")
    assert not_a_folder.read_text() == "mine"


def _special_files(folder: Path) -> dict[str, Path]:
    """A fifo, a character device (a copy of /dev/null's node: root only), and a link to a file."""
    import stat

    made = {"fifo": folder / "pipe"}
    os.mkfifo(made["fifo"])
    try:
        os.mknod(folder / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        made["device"] = folder / "null"
    except PermissionError:
        pass  # not root: the fifo and the link still show the rule
    (folder / "real.db").write_text("not a backup")
    (folder / "link.db").symlink_to(folder / "real.db")
    made["link"] = folder / "link.db"
    return made


def test_backup_force_replaces_only_a_regular_file(tmp_path: Path, tuitune_home: Path) -> None:
    import stat

    open_store().create_run(name="a", config={}, model="m", method="lora", dataset="d")
    for kind, path in _special_files(tmp_path).items():
        before = os.lstat(path)
        assert_one_line_error(cli("store", "backup", str(path), "--force"), "not a regular file")
        after = os.lstat(path)
        assert (stat.S_IFMT(after.st_mode), after.st_ino, after.st_rdev) == (
            stat.S_IFMT(before.st_mode),
            before.st_ino,
            before.st_rdev,
        ), kind
    assert (tmp_path / "real.db").read_text() == "not a backup"
    assert not list(tmp_path.glob(".*.partial"))
