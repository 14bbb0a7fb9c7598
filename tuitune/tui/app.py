"""The terminal app: modes, global bindings, the user's keymap, theme, palette. Screens live in
`screens/`; what a user does to a run is the table in `run_actions`.

Importing this module imports textual and the store, never torch or transformers: the app
paints its first screen fast, and every heavy step runs in a child process.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from textual import on, work
from textual.actions import SkipAction
from textual.app import App, SystemCommand
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from tuitune.errors import KeymapError, TuituneError
from tuitune.probe.client import ProbeClient
from tuitune.runs.present import literal
from tuitune.service.jobs import CHILDREN
from tuitune.tui.actions import RunActions
from tuitune.tui.app_bindings import APP_BINDINGS
from tuitune.tui.commands import ActionCommands, QueueCommands, RunCommands
from tuitune.tui.failures import describe_failure
from tuitune.tui.keymap import clashes, keys_of, user_keymap
from tuitune.tui.queue_actions import QueueActions
from tuitune.tui.screens.messages import AppMessage, MessagesScreen
from tuitune.tui.services import AppService
from tuitune.tui.stylesheet import KeptStylesheet
from tuitune.tui.wording import for_the_app

if TYPE_CHECKING:
    from textual.screen import Screen

    from tuitune.config import RunConfig

Mode = Literal["new", "training", "history"]

TUITUNE_THEME = Theme(
    name="tuitune",
    primary="#4FB3BF",
    secondary="#F2A65A",
    accent="#C792EA",
    warning="#F2C14E",
    error="#EF5B5B",
    success="#7BC47F",
    background="#12161C",
    surface="#1A2029",
    panel="#232B36",
    dark=True,
)
# What ctrl+t cycles through; the palette's "Theme" command offers every installed theme.
THEME_CYCLE = ("tuitune", "textual-light", "nord", "gruvbox", "tokyo-night")


# Each mode's screen is imported when the mode first opens: a returning user who lands on the
# history never pays for the wizard's imports (the run configuration's pydantic models).
def _wizard(last: RunConfig | None = None) -> Screen:
    from tuitune.tui.screens.wizard import WizardScreen

    return WizardScreen(last=last)


def _training() -> Screen:
    from tuitune.tui.screens.training import TrainingScreen

    return TrainingScreen()


def _history() -> Screen:
    from tuitune.tui.screens.history import HistoryScreen

    return HistoryScreen()


# Characters XML 1.0 does not allow in a document (an SVG screenshot is one).
NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# How often the app checks that running runs still have a live worker.
RECONCILE_SECONDS = 10.0
# How long after the first screen the probe process starts warming up (see on_mount).
WARM_HELPER_SECONDS = 1.0
# An error stays on screen at least this long (and `!` lists it afterwards).
ERROR_SECONDS = 30.0


class TuituneApp(App[None]):
    """`tuitune` with no arguments: new run (wizard), training, history."""

    TITLE = "tuitune"
    CSS_PATH = "app.tcss"
    MODES = {"new": _wizard, "training": _training, "history": _history}
    COMMANDS = App.COMMANDS | {ActionCommands, RunCommands, QueueCommands}
    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        *,
        mode: Mode | None = None,
        service: AppService | None = None,
        screenshot_dir: str | Path | None = None,
        reconcile_seconds: float | None = RECONCILE_SECONDS,
    ) -> None:
        service = service or AppService()
        self._store_error: str | None = None  # why the store could not be read, said on mount
        # The app opens in its first mode rather than switching to it on mount: Textual composes
        # that mode's screen at start, and a switch would hold the first frame back (it delays
        # updates for 50 ms) and parse the CSS once more.
        self.DEFAULT_MODE = mode or self._first_mode(service)  # type: ignore[misc]  # per app; App.__init__ reads it
        super().__init__()
        # Parsed rules kept while the theme stays (see tui/stylesheet.py); none are parsed yet.
        self.stylesheet = KeptStylesheet(variables=self.get_css_variables())
        self.service = service
        self.run_actions = RunActions(self)
        self.queue_actions = QueueActions(self)
        # The one warm child process that probes models, previews data and checks configs.
        self.probe = ProbeClient()
        # Every notification shown, newest last (toasts vanish; `!` shows these again).
        self.messages: deque[AppMessage] = deque(maxlen=500)
        # The user's keys (binding id -> keys) from keymap.toml, read on mount.
        self.keymap: dict[str, str] = {}
        self._screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self._reconcile_seconds = reconcile_seconds
        self._active_runs: set[int] | None = None  # the runs active at the last look (None: not looked yet)
        # What waits for the first frame (see after_first_frame); None once it has been painted.
        self._before_first_frame: list[Callable[[], object]] | None = []
        self.register_theme(TUITUNE_THEME)
        self.theme = "tuitune"

    def _first_mode(self, service: AppService) -> Mode:
        """The history when runs exist, else the wizard."""
        try:
            return "history" if service.has_runs() else "new"
        except TuituneError as error:  # a damaged or unwritable store: say so on mount, do not crash
            self._store_error = str(error)
            return "history"

    def on_mount(self) -> None:
        self._use_keymap()
        if self._store_error is not None:
            self.notify(self._store_error, title="The run store cannot be read", severity="error", timeout=30)
        if self._reconcile_seconds:
            self.set_interval(self._reconcile_seconds, self._reconcile)
        if not self.is_headless:
            # The helper imports the training stack (seconds): started once the first screen is
            # up, it is warm by the time the user opens the wizard (tests start it on demand).
            self.set_timer(WARM_HELPER_SECONDS, self._warm_helper)

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the first screen has been painted (later on: after the next refresh).

        For what the first screen does not show (a hidden step, the imports it needs, threads that
        would compete with the paint for the GIL): during Textual's start-up batch,
        `call_after_refresh` runs its callback at once, before anything is painted.
        """
        if self._before_first_frame is None:
            self.call_after_refresh(callback)
        else:
            self._before_first_frame.append(callback)

    def on_ready(self) -> None:
        # Textual sends Ready once the start-up batch is over and the first layout is done; the
        # refresh paints it, and the callbacks run after that paint.
        waiting, self._before_first_frame = self._before_first_frame or [], None
        self.screen.refresh()
        for callback in waiting:
            self.call_after_refresh(callback)

    @work(thread=True, exclusive=True, group="warm-probe", exit_on_error=False)
    def _warm_helper(self) -> None:
        self.probe.start()

    def on_unmount(self) -> None:
        # Evaluations and merges the app started stop with it; training runs never do.
        self.probe.stop()
        CHILDREN.terminate_all()

    def notify(
        self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = False
    ) -> None:
        # Advice meant for a shell (`pass --token`) is worded for the app, and kept for `!`; names
        # and errors quoted in it show their control characters escaped.
        message, title = literal(for_the_app(message, self.key_of)), literal(for_the_app(title, self.key_of))
        self.messages.append(AppMessage(datetime.now(timezone.utc), severity, title, message))
        if severity == "error":
            timeout = max(timeout or 0, ERROR_SECONDS)
        # Messages quote paths, configs and errors; square brackets there are not markup.
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # --- the user's keys ------------------------------------------------------------------------
    def _use_keymap(self) -> None:
        from tuitune.tui.screens.help import every_binding_id  # light: the screens it names load on first use

        try:
            keymap, problems = user_keymap(self.BINDINGS, every_binding_id)
        except KeymapError as error:  # the app goes on with its own keys
            self.notify(str(error), title="Your keymap was not used", severity="error")
            return
        if problems:
            self.notify(problems, title="Part of your keymap was not used", severity="warning", timeout=30)
        if keymap.keys:
            self.keymap = keymap.keys
            self.set_keymap(keymap.keys)
            self._check_keymap()

    @work(thread=True, group="keymap", exit_on_error=False)
    def _check_keymap(self) -> None:
        # Off the UI thread: it reads every screen's bindings, and the wizard's imports are not light.
        from tuitune.tui.screens.help import binding_sections

        said = clashes(self.keymap, binding_sections())
        if said:
            self.call_from_thread(self.notify, said, title="Your keymap", severity="warning", timeout=30)

    def key_of(self, binding_id: str) -> str:
        """The key that does `binding_id` now (the user's, else the default), for messages."""
        return keys_of(binding_id, self.keymap, self.BINDINGS)

    def action_messages(self) -> None:
        """Every message of this session, newest first."""
        if not isinstance(self.screen, MessagesScreen):
            self.push_screen(MessagesScreen(self.messages))

    # --- modes ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The binding of the mode already showing is greyed out, as in Textual's demo.
        current = {"new_run": "new", "history": "history", "training": "training"}.get(action)
        if current is not None and current == self.current_mode and len(self.screen_stack) == 1:
            return None
        return True

    def action_new_run(self) -> None:
        wizard = self._mode_base("new")
        last = getattr(wizard, "launched", None)
        if last is not None and self.current_mode != "new":
            # That wizard did its job: a new run starts on step 1 of a fresh one, its choices preselected.
            self.remove_mode("new")
            self.add_mode("new", partial(_wizard, last))
        self._to_mode("new")

    def action_history(self) -> None:
        self._to_mode("history")

    def action_training(self) -> None:
        """The training screen of the run selected in the history if it is active, else the latest."""
        history = self._mode_base("history")
        run_id = history.selected_active_run_id() if history is not None else None
        self.show_training(run_id)

    def show_training(self, run_id: int | None = None) -> None:
        """Switch to the training screen following `run_id` (None: the latest running run)."""
        self._to_mode("training")
        screen = self._mode_base("training")
        if screen is not None:
            screen.follow(run_id)

    def open_run(self, run_id: int) -> None:
        """The detail screen of a run, over the history."""
        from tuitune.tui.screens.detail import RunDetailScreen

        self._to_mode("history")
        self.push_screen(RunDetailScreen(run_id))

    def open_chat(self, run_ids: list[int]) -> None:
        """Chat with a run's model beside its base, or with two runs' models side by side."""
        from tuitune.tui.screens.chat import ChatScreen

        self.push_screen(ChatScreen(run_ids))

    def compare_sweep(self, sweep_id: int) -> None:
        self.queue_actions.compare_sweep(sweep_id)

    def _to_mode(self, mode: Mode) -> None:
        # Leaving a pushed screen (detail, compare) first keeps each mode's stack shallow.
        while len(self.screen_stack) > 1 and not self.screen.is_modal:
            self.pop_screen()
        self.switch_mode(mode)

    def _mode_base(self, mode: str) -> Any:
        """The screen at the bottom of `mode`'s stack (None until the mode first opens)."""
        try:
            stack = self.get_screen_stack(mode)
        except KeyError:  # the mode has not opened yet
            return None
        return stack[0] if stack else None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Quit and Screenshot come from our own bindings (with their keys) in the palette.
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Screenshot"):
                yield command

    # --- help, theme, screenshot --------------------------------------------------------------
    def action_help(self) -> None:
        from tuitune.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_next_theme(self) -> None:
        names = [name for name in THEME_CYCLE if name in self.available_themes]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        self.notify(f"Theme: {self.theme} (ctrl+p → Theme lists them all)", timeout=3)

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        # What the app draws shows control characters escaped (`present.literal_text`); one that
        # still gets through (a file name in the data tree, a pasted value) must not make the
        # SVG invalid XML, which no viewer opens: it becomes U+FFFD, one cell wide like itself.
        svg = super().export_screenshot(title=title, simplify=simplify)
        return NOT_XML.sub("\ufffd", svg)

    def action_save_svg(self) -> None:
        bound = self.screen.active_bindings.get("ctrl+s")
        if bound is not None and bound.node is not self:
            raise SkipAction()  # the screen's own ctrl+s (the chat settings' Apply) goes first
        folder = self._screenshot_dir or Path(os.getcwd())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self.save_screenshot(path=str(folder))
        except OSError as exc:
            self.notify(f"Could not save the screenshot in {folder}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Screenshot saved: {path}", timeout=5)

    # --- failures in the background, handled in one place ------------------------------------------
    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        # The app's own workers (run actions, crash detection); screens forward theirs.
        if event.state == WorkerState.ERROR:
            self.report_failure(event.worker)

    def report_failure(self, worker: Worker) -> None:
        """Show what went wrong in a background worker, as one line."""
        self.notify(describe_failure(worker.error), title="Something went wrong", severity="error", timeout=15)

    # --- crash detection ----------------------------------------------------------------------
    def _reconcile(self) -> None:
        self.run_worker(self._reconcile_in_thread, thread=True, exclusive=True, group="reconcile", exit_on_error=False)

    def _reconcile_in_thread(self) -> None:
        crashed = self.service.reconcile()
        for run in crashed:
            self.call_from_thread(self._crashed, run.id, run.name)
        # The terminal's bell, once per run that ended since the last look (any run, from any face):
        # the one who left the app open in a tmux pane hears that the night's run is done.
        active = {run.id for run in self.service.store.active_runs()}
        ended = (self._active_runs or set()) - active
        self._active_runs = active
        for _ in ended:
            self.call_from_thread(self.bell)

    def _crashed(self, run_id: int, name: str) -> None:
        self.notify(
            f"Run {run_id} ({name}) crashed: its worker is gone. Resume it with {self.key_of('resume')} in the history.",
            severity="error",
            timeout=10,
        )
        self.run_actions.run_changed.publish(run_id)


def create_app(mode: Mode | None = None, **options: Any) -> TuituneApp:
    """The app, opening on `mode` (default: history when runs exist, else the wizard)."""
    return TuituneApp(mode=mode, **options)
