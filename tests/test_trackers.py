"""A run that reports to TensorBoard, MLflow, Trackio and W&B trains headless with stdin closed,
never prompts, and leaves in its own folder what each tracker reads: the losses, the evaluation's
loss and tuitune's configuration, read back offline through each tracker's own files. The run's
events and artifacts say where each one's data is, and `tuitune show` names them; the W&B key in
the environment reaches nothing tuitune writes.

One run, trained once for the module (four steps, an evaluation at step 3 and at the end),
reports to all four; each tracker has its own test reading it back.
"""

from __future__ import annotations

import glob
import json
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.trained_runs import OFFLINE, home_env, new_home
from tuitune.config import ConfigBuilder, RunConfig
from tuitune.engine.trackers import PROJECT, shareable, tracker_variables, wandb_key_available
from tuitune.store import COMPLETED, Run, open_store

TRACKERS = ["tensorboard", "mlflow", "trackio", "wandb"]
# What a user's W&B key looks like (40 characters); it must reach no file tuitune writes.
FAKE_KEY = "tuitunetestkey0123456789abcdefghijklmnop"
# Variables of the trackers that a developer's shell may hold: the test sets its own.
TRACKER_ENV = (
    "WANDB_API_KEY",
    "WANDB_MODE",
    "WANDB_DIR",
    "WANDB_PROJECT",
    "WANDB_BASE_URL",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_TAGS",
    "TRACKIO_DIR",
    "TENSORBOARD_LOGGING_DIR",
)


def tracked_config(name: str = "tracked") -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .method("lora")
        .data(max_samples=24, validation_split=4, max_length=64)
        .training(max_steps=4, batch_size=4, logging_steps=1, eval_steps=3, save_steps=1000, report_to=TRACKERS)
        .name(name)
        .build()
    )


@dataclass(frozen=True)
class TrackedRun:
    home: Path
    run: Run
    folder: Path
    printed: str  # what `tuitune train` printed

    @property
    def label(self) -> str:
        return self.folder.name  # `<id>-<name>`: the run's name in every tracker


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> TrackedRun:
    """The run, trained by `tuitune train` as a user starts it from a script: its worker has no
    terminal and no stdin. The user has chosen W&B's offline mode and has a key in the
    environment (which must stay out of the store and the run's files)."""
    home = new_home(tmp_path_factory, shared_models_dir, "tracked")
    config_file = home / "tracked.yaml"
    config_file.write_text(tracked_config().to_yaml())
    env = {key: value for key, value in os.environ.items() if key not in TRACKER_ENV}
    env.update(
        OFFLINE,
        TUITUNE_HOME=str(home),
        HF_HOME=str(home / "hf-home"),
        NETRC=str(home / "no-netrc"),
        WANDB_API_KEY=FAKE_KEY,
        WANDB_MODE="offline",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tuitune", "train", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    with home_env(home):
        (run,) = open_store().list_runs()
    assert run.status == COMPLETED, run.error
    return TrackedRun(home, run, Path(run.output_dir or ""), result.stdout + result.stderr)


@pytest.fixture
def store_of(tracked: TrackedRun, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TUITUNE_HOME", str(tracked.home))
    yield open_store()


def artifact_of(store: Any, run_id: int, tracker: str) -> Any:
    (found,) = [a for a in store.artifacts(run_id) if a.kind == "tracker" and a.meta["tracker"] == tracker]
    return found


def event_of(store: Any, run_id: int, tracker: str) -> str:
    (found,) = [e.message for e in store.events(run_id) if e.message.startswith(f"{tracker}: ")]
    return found


# --- each tracker's own files ----------------------------------------------------------------


@pytest.mark.slow
def test_tensorboard_event_files_in_the_run_folder_hold_the_losses_and_the_config(
    tracked: TrackedRun, store_of: Any
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tracked.folder / "tensorboard"
    events = EventAccumulator(str(logs))
    events.Reload()
    assert [s.step for s in events.Scalars("train/loss")] == [1, 2, 3, 4]
    assert [s.step for s in events.Scalars("eval/loss")] == [3, 4]
    assert "train/grad_norm" in events.Tags()["scalars"] and "train/learning_rate" in events.Tags()["scalars"]
    (config,) = events.Tensors("tuitune/config/text_summary")
    text = config.tensor_proto.string_val[0].decode()
    assert "name: tracked" in text and "report_to:" in text
    assert artifact_of(store_of, tracked.run.id, "tensorboard").path == str(logs)
    assert event_of(store_of, tracked.run.id, "tensorboard") == (
        f"tensorboard: logs in {logs} (tensorboard --logdir {logs})"
    )


@pytest.mark.slow
def test_mlflow_local_store_in_the_run_folder_holds_the_losses_and_the_config(
    tracked: TrackedRun, store_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tracked.folder / "mlruns").as_uri()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(PROJECT)
    assert experiment is not None
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == tracked.label
    assert found.data.tags["tuitune.run_id"] == str(tracked.run.id)
    assert [m.step for m in client.get_metric_history(found.info.run_id, "loss")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(found.info.run_id, "eval_loss")] == [3, 4]
    params = found.data.params
    assert params["tuitune.name"] == "tracked" and params["tuitune.training.max_steps"] == "4"
    assert json.loads(params["tuitune.training.report_to"]) == TRACKERS
    assert artifact_of(store_of, tracked.run.id, "mlflow").path == str(tracked.folder / "mlruns")
    assert found.info.run_id in event_of(store_of, tracked.run.id, "mlflow")


@pytest.mark.slow
def test_trackio_local_store_in_the_run_folder_holds_the_losses_and_the_config(
    tracked: TrackedRun, store_of: Any
) -> None:
    database = tracked.folder / "trackio" / f"{PROJECT}.db"
    with sqlite3.connect(database) as db:
        logged = [
            json.loads(m) for (m,) in db.execute("SELECT metrics FROM metrics WHERE run_name = ?", (tracked.label,))
        ]
        (config,) = [
            json.loads(c) for (c,) in db.execute("SELECT config FROM configs WHERE run_name = ?", (tracked.label,))
        ]
    assert [m["train/global_step"] for m in logged if "train/loss" in m] == [1, 2, 3, 4]
    assert [m["train/global_step"] for m in logged if "eval/loss" in m] == [3, 4]
    assert config["tuitune"]["name"] == "tracked" and config["tuitune"]["training"]["report_to"] == TRACKERS
    assert artifact_of(store_of, tracked.run.id, "trackio").path == str(tracked.folder / "trackio")
    assert "trackio show --project tuitune" in event_of(store_of, tracked.run.id, "trackio")


def wandb_records(path: Path) -> Iterator[Any]:
    """The records of a W&B run file (`run-ID.wandb`): W&B's own protocol buffers, in the block
    log (LevelDB's layout) its service writes: a `:W&B` header, then 32 KiB blocks of chunks."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = 32768 - position % 32768
        if left < 7:  # a block's tail too short for a chunk header is padding
            position += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if length == 0 and kind == 0:
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a whole record, or a record's last chunk
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pending)
            pending = b""
            yield record


@pytest.mark.slow
def test_wandb_offline_run_in_the_run_folder_holds_the_losses_and_the_config(
    tracked: TrackedRun, store_of: Any
) -> None:
    (offline,) = glob.glob(str(tracked.folder / "wandb" / "offline-run-*"))
    (run_file,) = Path(offline).glob("run-*.wandb")
    history: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "run":
            assert record.run.project == PROJECT and record.run.display_name == tracked.label
    assert [h["train/global_step"] for h in history if "train/loss" in h] == [1, 2, 3, 4]
    assert [h["train/global_step"] for h in history if "eval/loss" in h] == [3, 4]
    assert config["tuitune"]["name"] == "tracked" and config["learning_rate"] == tracked_config().training.learning_rate
    assert artifact_of(store_of, tracked.run.id, "wandb").path == offline
    assert (
        event_of(store_of, tracked.run.id, "wandb")
        == f"wandb: offline run in {offline} (wandb sync {offline} uploads it)"
    )


@pytest.mark.slow
def test_show_names_each_tracker_and_the_key_reaches_nothing_tuitune_writes(tracked: TrackedRun) -> None:
    from tests.helpers import cli

    shown = cli("show", str(tracked.run.id), env={"TUITUNE_HOME": str(tracked.home)}, check=True).stdout
    for tracker in TRACKERS:
        assert f"tracker {tracker}" in shown, shown
    report = json.loads(cli("show", str(tracked.run.id), "--json", env={"TUITUNE_HOME": str(tracked.home)}).stdout)
    assert {a["meta"]["tracker"] for a in report["artifacts"] if a["kind"] == "tracker"} == set(TRACKERS)
    # Never prompted: nothing asked for a key or a choice.
    assert "Enter your choice" not in tracked.printed and "API key" not in tracked.printed
    ours = [tracked.home / "tuitune.db", tracked.folder / "worker.log", tracked.folder / "config.yaml"]
    ours += list(tracked.home.glob("tuitune.db-*"))
    for path in ours:
        assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert FAKE_KEY not in tracked.printed


@pytest.mark.slow
def test_the_run_detail_screen_names_each_tracker_in_its_artifacts(tracked: TrackedRun, store_of: Any) -> None:
    from rich.console import Console

    from tuitune.tui.screens.detail import artifacts_view

    console = Console(width=200, record=True)
    console.print(artifacts_view(tracked.run, store_of.artifacts(tracked.run.id)))
    drawn = console.export_text()
    for tracker in TRACKERS:
        assert f"tracker {tracker}" in drawn, drawn
    assert "tensorboard" in drawn and "mlruns" in drawn


# --- what the run's environment is told (no training) ----------------------------------------


def test_trackers_write_into_the_run_folder_unless_the_user_points_them_elsewhere(tmp_path: Path) -> None:
    folder = tmp_path / "7-tracked"
    told = tracker_variables(TRACKERS, folder, 7, {"NETRC": str(tmp_path / "none")})
    assert told["TENSORBOARD_LOGGING_DIR"] == str(folder / "tensorboard")
    assert told["MLFLOW_TRACKING_URI"] == (folder / "mlruns").as_uri() and told["MLFLOW_ALLOW_FILE_STORE"] == "true"
    assert told["MLFLOW_EXPERIMENT_NAME"] == PROJECT and json.loads(told["MLFLOW_TAGS"]) == {"tuitune.run_id": "7"}
    assert told["TRACKIO_DIR"] == str(folder / "trackio")
    assert told["WANDB_DIR"] == str(folder) and told["WANDB_PROJECT"] == PROJECT
    assert told["WANDB_MODE"] == "offline"  # no key: W&B would ask for one

    users = {
        "MLFLOW_TRACKING_URI": "http://mlflow.example:5000",
        "TRACKIO_DIR": "/data/trackio",
        "TENSORBOARD_LOGGING_DIR": "/data/tb",
        "WANDB_MODE": "online",
        "WANDB_PROJECT": "theirs",
    }
    told = tracker_variables(TRACKERS, folder, 7, users)
    assert not set(told) & set(users)
    assert "MLFLOW_ALLOW_FILE_STORE" not in told  # their server, not our folder store
    assert tracker_variables(["tensorboard"], folder, 7, {}) == {"TENSORBOARD_LOGGING_DIR": str(folder / "tensorboard")}


def test_wandb_goes_online_only_with_a_key_and_never_holds_it(tmp_path: Path) -> None:
    no_netrc = str(tmp_path / "none")
    told = tracker_variables(["wandb"], tmp_path, 1, {"WANDB_API_KEY": FAKE_KEY, "NETRC": no_netrc})
    assert "WANDB_MODE" not in told and FAKE_KEY not in json.dumps(told)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password {FAKE_KEY}\n")
    netrc.chmod(0o600)
    assert wandb_key_available({"NETRC": str(netrc)})
    assert not wandb_key_available({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example.com"})
    assert not wandb_key_available({"NETRC": no_netrc})


def test_a_tracker_that_is_not_installed_is_refused_before_the_run_with_its_pip_command() -> None:
    import importlib.util

    from tuitune.config import REPORTERS, parse_config
    from tuitune.errors import InvalidConfigError

    missing = [
        (name, package)
        for name, (modules, package) in REPORTERS.items()
        if modules and not any(importlib.util.find_spec(module) for module in modules)
    ]
    if not missing:
        pytest.skip("every tracker transformers reports to is installed here")
    name, package = missing[0]
    with pytest.raises(
        InvalidConfigError, match=rf"{name}, which is not installed here: install it \(pip install {package}\)"
    ):
        parse_config({"training": {"report_to": [name]}})


def test_a_trackers_copy_of_the_settings_shows_a_url_by_its_host_alone() -> None:
    settings = {"notify": {"webhook": "https://hooks.slack.com/services/T0/B0/secret"}, "model": {"name_or_path": "x"}}
    shared = shareable({**settings, "list": ["https://ntfy.sh/my-secret-topic", 3]})
    assert shared["notify"]["webhook"] == "https://hooks.slack.com/…" and shared["model"] == {"name_or_path": "x"}
    assert shared["list"] == ["https://ntfy.sh/…", 3] and "secret" not in json.dumps(shared)
