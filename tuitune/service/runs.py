"""One door to runs for every face (the terminal app, the CLI, the service): the store for
reading, the engine for acting.

A face never touches peewee nor spawns workers itself; it calls a `RunService` (the app from its
thread workers) and gets the store's records back. Light: nothing here imports textual, fastapi or
torch. The engine and the runs layer (the config models, psutil) are imported by the methods that
use them: the app's first screen is drawn before any of them is needed (benchmarks/tui_startup.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from tuitune.errors import RunNotFoundError
from tuitune.store import RUNNING, Artifact, Evaluation, Event, MetricPoint, Run, Store, open_store

if TYPE_CHECKING:
    from tuitune.config import RunConfig
    from tuitune.engine.rerun import Rerun
    from tuitune.runs.documents import QueueDocument
    from tuitune.runs.folder import Removal
    from tuitune.store.conversations import Conversation
    from tuitune.store.processes import RunProcess
    from tuitune.store.sweeps import Sweep


@dataclass(frozen=True)
class QueueState:
    """The queue as the history's status line shows it."""

    waiting: int
    slots: int
    paused: bool


class RunService:
    """Reads and acts on runs for any face; safe to call from worker threads."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        # Opened on first use, so building the app (e.g. in tests) touches no disk.
        if self._store is None:
            self._store = open_store()
        return self._store

    # --- reading --------------------------------------------------------------------------
    def has_runs(self) -> bool:
        return bool(self.store.list_runs(limit=1))

    def list_runs(
        self, *, status: str | None = None, limit: int | None = None, sweep_id: int | None = None
    ) -> list[Run]:
        """Runs, newest first (with a status, a sweep or a limit: those only)."""
        return self.store.list_runs(status=status, limit=limit, sweep_id=sweep_id)

    def newest_runs(self, limit: int) -> list[Run]:
        return self.store.list_runs(limit=limit)

    def count_runs(self) -> int:
        return self.store.count_runs()

    def active_runs(self) -> list[Run]:
        return self.store.active_runs()

    def get_run(self, run_id: int) -> Run:
        return self.store.get_run(run_id)

    def find(self, reference: str | int) -> Run:
        """The run a user named (an id, a name, `last`), its status checked against its processes."""
        from tuitune.runs import lookup

        return lookup.find(reference, store=self.store)

    def current(self, run_id: int) -> Run:
        """Run `run_id` now, its status checked against its processes."""
        from tuitune.runs import lookup

        return lookup.current(run_id, store=self.store)

    def latest_running(self) -> Run | None:
        """What `t` shows when no run is chosen: the newest running run; with none running, the
        newest one starting (claimed, its worker loading), else the next in the queue's line, else
        the newest run at all. A run waiting in line never hides one that trains."""
        active = self.store.active_runs()  # newest first
        for run in active:
            if run.status == RUNNING:
                return run
        for run in active:
            if not run.in_queue:
                return run
        line = self.store.queued_runs()
        if line:
            return line[0]
        newest = self.store.list_runs(limit=1)
        return newest[0] if newest else None

    def metric_points(self, run_id: int, after_id: int = 0) -> list[MetricPoint]:
        return self.store.metric_points(run_id, after_id=after_id)

    def events(self, run_id: int, after_id: int = 0) -> list[Event]:
        return self.store.events(run_id, after_id=after_id)

    def evaluations(self, run_id: int) -> list[Evaluation]:
        return self.store.evaluations(run_id)

    def artifacts(self, run_id: int) -> list[Artifact]:
        return self.store.artifacts(run_id)

    def latest_scores(self) -> dict[int, float]:
        return self.store.latest_scores("rougeL")

    def resume_step(self, run: Run) -> int | None:
        """The step a resume would start from: its last complete checkpoint's, None when it has none."""
        from tuitune.runs import files

        if not run.output_dir:
            return None
        try:
            checkpoint = files.last_checkpoint(Path(run.output_dir))
        except OSError:  # a folder we may not read (or that went away): no checkpoint to claim
            return None
        return files.checkpoint_step(checkpoint) if checkpoint is not None else None

    def processes(self, run_id: int) -> list[RunProcess]:
        """The ranks of a run's process group, rank 0 first ([] for a single-process run)."""
        return self.store.processes(run_id)

    def log_path(self, run: Run) -> Path:
        from tuitune.runs import files

        return files.log_path(run)

    def add_event(self, run_id: int, message: str, level: str = "info") -> None:
        """A line in the run's story (a failed evaluation, merge or upload); a deleted run is skipped."""
        try:
            self.store.add_event(run_id, message, level=level)
        except RunNotFoundError:
            pass

    # --- acting (through the engine: the worker is always a detached process) --------------
    def launch(self, config: RunConfig, *, gpus: list[str] | None = None) -> Run:
        """Create a run and start its worker now, whatever the queue holds."""
        from tuitune.engine import launcher

        return launcher.launch(config, gpus=gpus, store=self.store)

    def cancel(self, run_id: int) -> Run:
        """Ask a run to stop: it finishes the step, saves a checkpoint and ends `cancelled`."""
        from tuitune.engine import launcher

        return launcher.cancel(self.store.get_run(run_id), store=self.store)

    def wait(self, run_id: int, *, timeout: float | None = None) -> Run:
        """Block until the run has ended (its worker gone too)."""
        from tuitune.engine import launcher

        return launcher.wait(run_id, timeout=timeout, store=self.store)

    def resume(
        self, run_id: int, *, epochs: float | None = None, max_steps: int | None = None, queue: bool = False
    ) -> Run:
        """Resume a stopped run (or train a completed one further), now or (`queue`) when a slot is free."""
        from tuitune.engine import resume

        return resume.start(
            self.store.get_run(run_id), epochs=epochs, max_steps=max_steps, queue=queue, store=self.store
        )

    def rerun(self, run_id: int, *, now: bool = False) -> Rerun:
        """A new run with a past run's configuration, queued (`now`: started at once), with what has
        changed since in its warnings. The data is not read here (a face's process): the worker checks it."""
        from tuitune.engine import rerun

        return rerun.rerun(self.store.get_run(run_id), now=now, store=self.store)

    def delete(self, run_id: int, *, files: bool = False) -> Removal | None:
        """Remove a run from the store; with `files`, what tuitune wrote in its folder (what went)."""
        from tuitune.engine import launcher

        return launcher.delete(self.store.get_run(run_id), files=files, store=self.store)

    def set_note(self, run_id: int, note: str | None) -> Run:
        """Give the run a note (None or blank: take it away); any run, whatever its status."""
        return self.label(run_id, notes=note)

    def tag(self, run_id: int, *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Run:
        """Add tags to the run and take others away (each checked: one word, at most MAX_TAGS)."""
        return self.label(run_id, add=add, remove=remove)

    def set_tags(self, run_id: int, tags: Iterable[str]) -> Run:
        """Replace the run's tags with `tags`."""
        return self.label(run_id, tags=tags)

    def label(
        self,
        run_id: int,
        *,
        notes: str | EllipsisType | None = ...,
        tags: Iterable[str] | None = None,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> Run:
        """Change the run's note and tags in one write, everything checked first. `notes` left out
        (`...`) keeps the note, None or blank takes it away; `tags` replaces the tags, then `add` and
        `remove` apply (to the run's own tags where `tags` is None)."""
        from tuitune.runs.labels import clean_note, clean_tags, retag

        run = self.store.get_run(run_id)
        change: dict[str, Any] = {}
        if not isinstance(notes, EllipsisType):
            change["notes"] = clean_note(notes)
        if tags is not None or add or remove:
            change["tags"] = retag(run.tags if tags is None else clean_tags(tags), add=add, remove=remove)
        if not change:
            return run
        self.store.update_run(run_id, **change)
        return self.store.get_run(run_id)

    def backend(self) -> str:
        """Where a run trains when its config does not say: local, or slurm (`tuitune cluster use`)."""
        from tuitune.engine.launcher import backend_default

        return backend_default(self.store)

    def reconcile(self) -> list[Run]:
        """Mark runs whose worker vanished as crashed; returns them."""
        from tuitune.engine import queue

        return queue.reconcile(store=self.store)

    # --- the queue and sweeps ------------------------------------------------------------------
    def queue_places(self) -> dict[int, tuple[int, int]]:
        """(place, length of the line) of every run waiting in the queue, by run id."""
        line = self.store.queued_runs()
        return {run.id: (place, len(line)) for place, run in enumerate(line, start=1)}

    def queue_state(self) -> QueueState:
        return QueueState(len(self.store.queued_runs()), self.slots(), self.queue_paused())

    def queue_document(self) -> QueueDocument:
        """The queue as `tuitune queue --json` and `GET /queue` show it: crashes noticed first (and
        what then fits started), so what it says runs does."""
        from tuitune.runs.documents import queue_document

        self.reconcile()
        return queue_document(self.store, slots=self.slots(), paused=self.queue_paused())

    def slots(self) -> int:
        """How many runs may train at once (set, else one per GPU, one on a machine without)."""
        from tuitune.engine import queue

        return queue.slots(self.store)

    def queue_paused(self) -> bool:
        from tuitune.engine import queue

        return queue.is_paused(self.store)

    def enqueue(self, config: RunConfig, *, gpus: list[str] | None = None) -> Run:
        """Add a run at the end of the queue; it starts at once when a slot is free."""
        from tuitune.engine import queue

        return queue.enqueue(config, gpus=gpus, store=self.store)

    def move_in_queue(self, run_id: int, to: int) -> int:
        """Move a waiting run to place `to` (1: next to start); returns the place it got."""
        from tuitune.engine import queue

        return queue.move(self.store.get_run(run_id), to, store=self.store)

    def pause_queue(self) -> None:
        from tuitune.engine import queue

        queue.pause(self.store)

    def unpause_queue(self) -> list[Run]:
        """Let the queue move again; returns the runs that started at once."""
        from tuitune.engine import queue

        return queue.unpause(self.store)

    def set_slots(self, count: int | None) -> list[Run]:
        """How many runs train at once (None: one per GPU); returns the runs that started at once."""
        from tuitune.engine import queue

        return queue.set_slots(count, self.store)

    def sweeps(self) -> list[Sweep]:
        return self.store.list_sweeps()

    def sweep_runs(self, sweep_id: int) -> list[Run]:
        return self.store.list_runs(sweep_id=sweep_id)

    # --- chats ----------------------------------------------------------------------------
    def conversations(self, run_id: int) -> list[Conversation]:
        """The run's saved chats, newest first."""
        return self.store.conversations(run_id)

    def save_conversation(self, run_id: int, turns: list[dict], settings: dict, conversation_id: int | None) -> int:
        """Keep a chat with its run after a turn; returns the conversation's id."""
        return self.store.save_conversation(run_id, turns=turns, settings=settings, conversation_id=conversation_id).id

    def export_conversations(self, run_id: int, path: Path) -> int:
        """Write the run's saved chats to `path` as JSONL in the messages format; returns how many."""
        from tuitune.runs import folder as run_folder

        rows = [conversation.training_rows() for conversation in reversed(self.store.conversations(run_id))]
        rows = [row for row in rows if row["messages"]]
        # Written into a run's folder (its subfolders made here included), it is deleted with the run's files.
        with run_folder.writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)
