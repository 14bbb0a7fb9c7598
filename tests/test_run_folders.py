"""A run owns its folder: it never writes into, shares, or deletes a folder tuitune did not make;
its children never run the user's Python files; what it writes is private to its user."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli, cli_json, tuitune_script
from tuitune.errors import RunStateError
from tuitune.runs import folder as run_folder
from tuitune.store import COMPLETED, open_store

pytestmark = pytest.mark.slow

TINY = ["--demo", "--max-steps", "2", "--max-length", "64"]


def test_output_folder_holds_runs_and_delete_removes_only_what_tuitune_wrote(
    tmp_path: Path, demo_model_path: Path
) -> None:
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "train.py").write_text("print('my own code')\n")
    (project / "notes").mkdir()
    (project / "notes" / "ideas.md").write_text("keep me\n")

    first = cli_json("train", *TINY, "-o", str(project))
    second = cli_json("train", *TINY, "-o", str(project))
    assert first["status"] == second["status"] == COMPLETED
    first_folder, second_folder = Path(first["output_dir"]), Path(second["output_dir"])
    # Each run has its own new folder inside the one the user named: nothing shared, no log mixed.
    assert first_folder.parent == second_folder.parent == project.resolve()
    assert first_folder != second_folder
    assert first_folder.name.startswith(f"{first['run_id']}-")
    assert (first_folder / "worker.log").read_text().count("[info] run ") == 1

    # A file the user put into a run's folder later is not tuitune's to delete.
    (second_folder / "my-results.csv").write_text("a,b\n")

    assert cli("delete", str(first["run_id"]), "--files", "--yes").returncode == 0
    assert not first_folder.exists()
    removed = cli("delete", str(second["run_id"]), "--files", "--yes")
    assert removed.returncode == 0 and "my-results.csv" in removed.stdout
    assert sorted(os.listdir(second_folder)) == [run_folder.MANIFEST, "my-results.csv"]
    # The user's project is untouched.
    assert (project / "train.py").read_text() == "print('my own code')\n"
    assert (project / "notes" / "ideas.md").exists()
    assert open_store().count_runs() == 0


def test_what_tuitune_writes_into_a_run_folder_later_is_deleted_with_its_files(tmp_path: Path) -> None:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher
    from tuitune.service.runs import RunService
    from tuitune.store import CANCELLED

    store = open_store()
    run = launcher.create_run(ConfigBuilder().demo().name("exported").build(), store=store)
    folder = Path(run.output_dir or "")
    (folder / "mine").mkdir()
    (folder / "mine" / "notes.md").write_text("keep me\n")
    service = RunService(store)
    # The app's chat export, into a folder it makes in the run's folder, and into the user's own.
    service.export_conversations(run.id, folder / "exports" / "chats.jsonl")
    service.export_conversations(run.id, folder / "chats.jsonl")
    service.export_conversations(run.id, folder / "mine" / "chats.jsonl")
    # `tuitune data --to chat -o`, into the run's folder.
    from tuitune.data.sources import sample_dataset_path

    converted = cli(
        "data", str(sample_dataset_path()), "--to", "chat", "-o", str(folder / "converted" / "sample.jsonl")
    )
    assert converted.returncode == 0, converted.stderr
    store.set_status(run.id, CANCELLED)

    removal = launcher.delete(store.get_run(run.id), files=True, store=store)
    assert removal is not None
    assert {"exports", "chats.jsonl", "converted", "config.yaml"} <= set(removal.removed)
    assert removal.kept == ["mine"]
    assert sorted(os.listdir(folder / "mine")) == ["chats.jsonl", "notes.md"]


def test_delete_files_refuses_a_folder_tuitune_did_not_make(tmp_path: Path, demo_model_path: Path) -> None:
    """A run recorded with the user's own folder (an older version put runs straight into `-o`)."""
    document = cli_json("train", *TINY)
    user_folder = tmp_path / "precious"
    user_folder.mkdir()
    (user_folder / "config.yaml").write_text("mine: true\n")  # looks like a run's, is not
    open_store().update_run(document["run_id"], output_dir=str(user_folder))

    result = cli("delete", str(document["run_id"]), "--files", "--yes")
    assert_one_line_error(result, "not made by tuitune", "without --files")
    assert (user_folder / "config.yaml").read_text() == "mine: true\n"
    assert open_store().count_runs() == 1  # refused whole: nothing lost


def test_training_from_a_folder_with_python_files_never_runs_them(tmp_path: Path, demo_model_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    marker = tmp_path / "planted-code-ran"
    for module in ("secrets", "datasets", "transformers", "logging"):
        (workdir / f"{module}.py").write_text(f"open({str(marker)!r}, 'a').write('{module}\\n')\n")
    rows = [{"instruction": f"Say {n}.", "output": f"{n} said."} for n in range(40)]
    (workdir / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))

    result = subprocess.run(
        [tuitune_script(), "train", "--demo", "-d", "data.jsonl", "--max-steps", "2", "--max-length", "64", "--json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == COMPLETED
    assert not marker.exists(), f"planted modules ran: {marker.read_text()}"
    run = open_store().get_run(document["run_id"])
    # The relative dataset path meant the user's file; the worker ran in the run's own folder.
    assert run.config["data"]["source"] == str(workdir / "data.jsonl")


def test_the_worker_command_keeps_the_current_folder_off_the_import_path(tmp_path: Path) -> None:
    from tuitune.system.child import child_environment, python_command

    (tmp_path / "json.py").write_text("raise SystemExit('planted json.py ran')\n")
    probe = python_command("json.tool", "--help")
    result = subprocess.run(probe, cwd=tmp_path, capture_output=True, text=True, env=child_environment(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert child_environment()["PYTHONSAFEPATH"] == "1"  # grandchildren (dataloader workers) too


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_tuitune_creates_is_private_to_its_user(
    tmp_path: Path, demo_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("TUITUNE_HOME", str(home))
    old_umask = os.umask(0o022)  # the usual umask: files world-readable unless tuitune says otherwise
    try:
        assert cli("runs").returncode == 0  # tuitune makes its home
        (home / "models").symlink_to(demo_model_path.parent, target_is_directory=True)
        document = cli_json("train", *TINY)
    finally:
        os.umask(old_umask)
    assert mode(home) == 0o700

    folder = Path(document["output_dir"])
    assert mode(home / "tuitune.db") == 0o600
    assert mode(home / "runs") == 0o700
    assert mode(folder) == 0o700
    for name in ("config.yaml", "worker.log", run_folder.MANIFEST):
        assert mode(folder / name) == 0o600, name
    weights = next((folder / "model").glob("*.safetensors"))
    assert mode(weights) & 0o077 == 0


def test_an_existing_home_keeps_the_mode_its_user_gave_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "team-home"
    shared.mkdir()
    shared.chmod(0o750)
    monkeypatch.setenv("TUITUNE_HOME", str(shared))
    assert cli("runs").returncode == 0
    assert mode(shared) == 0o750
    assert mode(shared / "tuitune.db") == 0o600


def test_a_run_folder_made_by_tuitune_is_never_reused(tmp_path: Path) -> None:
    parent = tmp_path / "runs"
    first = run_folder.make_run_folder(parent, 1, "demo")
    (first / "stale.txt").write_text("from an older store whose ids started over")
    again = run_folder.make_run_folder(parent, 1, "demo")
    assert again != first and again.name == "1-demo-2"
    with pytest.raises(RunStateError, match="belongs to run 1, not run 7"):
        run_folder.remove_run_files(first, 7)
    assert (first / "stale.txt").exists()


def test_the_apps_children_keep_the_current_folder_off_their_import_path() -> None:
    """The app's probe process and its evaluate/merge/upload children start like the worker."""
    from tuitune.service.jobs import tuitune_command

    command = tuitune_command("eval", "1")
    assert command[1:3] == ["-P", "-m"] or "runpy" in command[2]
