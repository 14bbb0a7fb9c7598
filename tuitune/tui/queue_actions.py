"""What a user does to the queue, from whichever screen: move a run in line, pause, unpause, set
the slots, compare a whole sweep. Quick calls through the engine's queue, from thread workers
owned by the app; each change is published on `changed`, so the history re-reads the line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.signal import Signal
from textual.validation import Integer

from tuitune.errors import TuituneError
from tuitune.runs import present
from tuitune.store import Run
from tuitune.tui.widgets.prompts import AskModal

if TYPE_CHECKING:
    from tuitune.tui.app import TuituneApp


class QueueActions:
    """The queue actions of one app; screens and the palette call `app.queue_actions.<action>()`."""

    def __init__(self, app: TuituneApp) -> None:
        self.app = app
        # The queue changed (a run moved, paused, unpaused, slots): nothing to carry.
        self.changed: Signal[None] = Signal(app, "queue-changed")

    @property
    def service(self) -> Any:
        return self.app.service

    def move(self, run: Run, to: int) -> None:
        """Move a waiting run to place `to` (1: next to start)."""

        def call() -> str:
            place = self.service.move_in_queue(run.id, to)
            return f"{run.name} is now {place} of {len(self.service.queue_places())} in the queue."

        self._quick(call, quiet=True)

    def pause(self) -> None:
        def call() -> str:
            self.service.pause_queue()
            return (
                "Queue paused: running runs go on; queued runs wait until you unpause it (ctrl+p → Unpause the queue)."
            )

        self._quick(call)

    def unpause(self) -> None:
        def call() -> str:
            started = self.service.unpause_queue()
            return "Queue unpaused" + (f": started {_names(started)}." if started else ".")

        self._quick(call)

    def set_slots(self) -> None:
        """Ask how many runs may train at once, then set it (more slots may start runs at once)."""
        # Imported here: the engine's queue brings the launcher and the config models, which the
        # app's first screen is drawn without.
        from tuitune.engine.queue import MAX_SLOTS

        def ask(current: int) -> None:
            modal = AskModal(
                "Queue slots",
                f"How many runs train at once. Now {current}; the default is one per GPU (one on a CPU). "
                "Runs never share a GPU.",
                "Slots",
                value=str(current),
                submit="Set",
                validators=[
                    Integer(
                        minimum=1,
                        maximum=MAX_SLOTS,
                        failure_description=f"Slots must be a whole number from 1 to {MAX_SLOTS}.",
                    )
                ],
            )
            self.app.push_screen(modal, answered)

        def answered(text: str | None) -> None:
            if text is None:
                return

            def call() -> str:
                started = self.service.set_slots(int(text))
                return f"Queue slots: {int(text)}" + (f"; started {_names(started)}." if started else ".")

            self._quick(call)

        def read() -> None:
            current = self.service.queue_state().slots
            self.app.call_from_thread(ask, current)

        self.app.run_worker(read, thread=True, group="queue-actions", exit_on_error=False, name="queue-slots")

    def compare_sweep(self, sweep_id: int) -> None:
        """Compare every run of a sweep."""

        def read() -> None:
            try:
                sweep = self.service.store.get_sweep(sweep_id)
            except TuituneError as error:
                self.app.call_from_thread(self.app.notify, str(error), severity="warning")
                return
            runs = self.service.sweep_runs(sweep_id)
            self.app.call_from_thread(self._compare, sweep.id, sweep.name, [run.id for run in runs])

        self.app.run_worker(read, thread=True, group="queue-actions", exit_on_error=False, name="compare-sweep")

    def _compare(self, sweep_id: int, name: str, run_ids: list[int]) -> None:
        if len(run_ids) < 2:
            self.app.notify(
                f"Sweep {sweep_id} ({name}) has {present.plural(len(run_ids), 'run')}: nothing to compare.",
                severity="warning",
            )
            return
        # Imported here: a screen loads when it is first opened, not with the app.
        from tuitune.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(sorted(run_ids)))

    def _quick(self, call: Callable[[], str], *, quiet: bool = False) -> None:
        def work() -> None:
            try:
                done = call()
            except TuituneError as error:
                self.app.call_from_thread(self.app.notify, str(error), title="Could not do that", severity="error")
                return
            self.app.call_from_thread(self._finished, done, quiet)

        self.app.run_worker(work, thread=True, group="queue-actions", exit_on_error=False, name="queue-action")

    def _finished(self, done: str, quiet: bool) -> None:
        self.app.notify(done, timeout=2 if quiet else None)
        self.changed.publish(None)


def _names(runs: list[Run]) -> str:
    return ", ".join(f"#{run.id} {run.name}" for run in runs)
