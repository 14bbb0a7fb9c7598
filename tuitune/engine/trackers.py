"""The trackers `training.report_to` names (TensorBoard, MLflow, Trackio, W&B), set up so that they
work beside the store: their files go into the run's folder unless the user's environment points
them elsewhere, W&B never prompts, the run's configuration reaches them, and the run's events and
artifacts say where their data is.

transformers' own reporting callbacks do the logging (every metric the trainer logs); they read
where to write from environment variables when they are built, so `environment` sets those around
the run, and `attach` adds the callback that tells each tracker tuitune's configuration.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import netrc
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

import yaml
from transformers import TrainerCallback

from tuitune.config import RunConfig
from tuitune.store import Store

TENSORBOARD, MLFLOW, TRACKIO, WANDB = "tensorboard", "mlflow", "trackio", "wandb"
SET_UP = (TENSORBOARD, MLFLOW, TRACKIO, WANDB)  # the others are left to their own defaults
PROJECT = "tuitune"  # W&B's and Trackio's project, MLflow's experiment


def named(config: RunConfig) -> list[str]:
    """The trackers of SET_UP the run reports to (`all`: those installed, as transformers reads it)."""
    report_to = config.training.report_to
    if report_to == ["all"]:
        return [name for name in SET_UP if importlib.util.find_spec(name) is not None]
    return [name for name in SET_UP if name in report_to]


def run_label(output: Path) -> str:
    """The run's name in every tracker: its folder's name, `<id>-<name>` (tuitune's own)."""
    return output.name


@contextlib.contextmanager
def environment(config: RunConfig, output: Path, run_id: int) -> Iterator[None]:
    """Around a run: the variables its trackers read, each only where the user has not set it,
    put back as they were afterwards (a program calling `tuitune.train()` keeps its own)."""
    wanted = tracker_variables(named(config), output, run_id, os.environ)
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def tracker_variables(trackers: list[str], output: Path, run_id: int, env: Any) -> dict[str, str]:
    """What `environment` sets: only the variables not in `env` already."""
    wanted: dict[str, str] = {}
    if TENSORBOARD in trackers:
        wanted["TENSORBOARD_LOGGING_DIR"] = str(output / "tensorboard")
    if MLFLOW in trackers:
        if "MLFLOW_TRACKING_URI" not in env:
            wanted["MLFLOW_TRACKING_URI"] = (output / "mlruns").absolute().as_uri()
            # MLflow 3 keeps its folder store only on request; it needs no database or server.
            wanted["MLFLOW_ALLOW_FILE_STORE"] = "true"
        wanted["MLFLOW_EXPERIMENT_NAME"] = PROJECT
        wanted["MLFLOW_TAGS"] = json.dumps({"tuitune.run_id": str(run_id)})
    if TRACKIO in trackers:
        wanted["TRACKIO_DIR"] = str(output / "trackio")
    if WANDB in trackers:
        wanted["WANDB_DIR"] = str(output)
        wanted["WANDB_PROJECT"] = PROJECT
        if not wandb_key_available(env):
            # With no key W&B would ask for one; a detached worker has no one to ask.
            wanted["WANDB_MODE"] = "offline"
    return {name: value for name, value in wanted.items() if name not in env}


def wandb_key_available(env: Any) -> bool:
    """Whether W&B can log in without asking: WANDB_API_KEY, or `wandb login`'s netrc entry. The
    key itself is never read into anything tuitune writes."""
    if env.get("WANDB_API_KEY"):
        return True
    host = urlparse(env.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    try:
        return netrc.netrc(env.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


@dataclass(frozen=True)
class Place:
    """Where a tracker's data for this run is, and how to look at it."""

    tracker: str
    location: str  # a folder, or a URL for a remote tracker
    hint: str  # the command that opens it, in the event's words

    def meta(self) -> dict[str, str]:
        return {"tracker": self.tracker, "location": self.location}


def attach(trainer: Any, config: RunConfig, store: Store, run_id: int) -> None:
    """Add the callback that tells the run's trackers tuitune's configuration and records where
    their data is, once they have started (after transformers' own callbacks, built first)."""
    trackers = named(config)
    if trackers:
        trainer.add_callback(TrackerCallback(trackers, config, store, run_id, trainer.callback_handler))


class TrackerCallback(TrainerCallback):
    """On the first step's start, on the main process: the configuration into each tracker, one
    event and one artifact per tracker saying where its data is."""

    def __init__(self, trackers: list[str], config: RunConfig, store: Store, run_id: int, handler: Any) -> None:
        self.trackers = trackers
        self.config = config
        self.store = store
        self.run_id = run_id
        self.handler = handler  # the trainer's callbacks, whose TensorBoard writer we write to

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        settings = shareable(self.config.to_dict())
        for tracker in self.trackers:
            try:
                place = _TELLERS[tracker](self, settings)
            except Exception as error:  # the tracker's own failure: it must not stop the run
                first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
                self.store.add_event(
                    self.run_id,
                    f"{tracker}: could not be given tuitune's settings ({type(error).__name__}: {first}); "
                    "its metrics are still logged",
                    level="warning",
                )
                continue
            if place is None:
                continue
            self.store.add_event(self.run_id, f"{tracker}: {place.hint}")
            self.store.add_artifact(self.run_id, kind="tracker", path=place.location, meta=place.meta())

    def _tensorboard(self, settings: dict[str, Any]) -> Place | None:
        from transformers.integrations import TensorBoardCallback

        callback = next((c for c in self.handler.callbacks if isinstance(c, TensorBoardCallback)), None)
        if callback is None or callback.tb_writer is None:
            return None
        text = yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
        callback.tb_writer.add_text("tuitune/config", _as_markdown(text))
        callback.tb_writer.flush()
        where = str(Path(callback.logging_dir).absolute())
        return Place(TENSORBOARD, where, f"logs in {where} (tensorboard --logdir {where})")

    def _mlflow(self, settings: dict[str, Any]) -> Place | None:
        import mlflow

        active = mlflow.active_run()
        if active is None:
            return None
        # Prefixed: transformers has logged the trainer's arguments under their own names.
        mlflow.log_params({f"tuitune.{key}": _param(value) for key, value in _flatten(settings).items()})
        uri = mlflow.get_tracking_uri()
        parsed = urlparse(uri)
        where = parsed.path if parsed.scheme == "file" else uri
        opens = f"mlflow ui --backend-store-uri {uri}" if parsed.scheme == "file" else uri
        return Place(MLFLOW, where, f"run {active.info.run_id} in {where} ({opens})")

    def _trackio(self, settings: dict[str, Any]) -> Place | None:
        trackio = sys.modules.get("trackio")  # imported by transformers' TrackioCallback
        if trackio is None:
            return None
        trackio.config.update({"tuitune": settings}, allow_val_change=True)
        # Trackio reads TRACKIO_DIR once, when first imported: say where it really writes.
        where = str(Path(trackio.utils.TRACKIO_DIR).absolute())
        return Place(
            TRACKIO,
            where,
            f"project {PROJECT} in {where} (TRACKIO_DIR={where} trackio show --project {PROJECT})",
        )

    def _wandb(self, settings: dict[str, Any]) -> Place | None:
        wandb = sys.modules.get("wandb")
        run = getattr(wandb, "run", None)
        if wandb is None or run is None:
            return None
        run.config.update({"tuitune": settings}, allow_val_change=True)
        if run.settings.mode == "offline" or getattr(run, "offline", False):
            where = str(Path(run.dir).parent.absolute())  # offline-run-…/files is run.dir
            return Place(WANDB, where, f"offline run in {where} (wandb sync {where} uploads it)")
        return Place(WANDB, run.url or "", f"run at {run.url}")


_TELLERS = {
    TENSORBOARD: TrackerCallback._tensorboard,
    MLFLOW: TrackerCallback._mlflow,
    TRACKIO: TrackerCallback._trackio,
    WANDB: TrackerCallback._wandb,
}


def shareable(values: Any) -> Any:
    """The run's settings as a tracker may keep them (and W&B online uploads them): a URL shows its
    scheme and host only, since its path or query may be a password (a webhook's is)."""
    if isinstance(values, dict):
        return {key: shareable(value) for key, value in values.items()}
    if isinstance(values, list):
        return [shareable(value) for value in values]
    if isinstance(values, str) and "://" in values:
        try:
            parts = urlsplit(values.strip())
            return f"{parts.scheme}://{parts.hostname}/…" if parts.scheme and parts.hostname else "a URL (hidden)"
        except ValueError:
            return "a URL (hidden)"
    return values


def _as_markdown(text: str) -> str:
    # TensorBoard's text tab renders markdown: indented, the YAML keeps its lines.
    return "\n".join("    " + line for line in text.splitlines())


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _param(value: Any) -> str:
    # MLflow keeps parameters as text of at most 6000 characters.
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]
