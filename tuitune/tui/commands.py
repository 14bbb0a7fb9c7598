"""The command palette (ctrl+p): every action of the current screen and the app, by name, runs,
and the queue's commands (pause, unpause, slots, compare a sweep).

Actions are read from the live bindings, so a binding added to a screen appears here with no
extra code, and its description and tooltip are the palette's text. The run actions among them
come from their table (`run_actions`): offered where the screen offers them, with their keys as
the user's keymap has them, and the run they would act on named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from tuitune.runs import present
from tuitune.tui.run_actions import RunActionScreen, action_of
from tuitune.tui.typed import OfTuitune

# How many of the newest runs the palette offers to open by name.
RUNS_OFFERED = 200


def highlighted(matcher: Matcher, text: str) -> Content:
    """`text` as plain content (a run named `[red]x` is not markup), the matched letters marked."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if score:
        for offset in offsets:
            if not text[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class ActionCommands(Provider):
    """Every bound action of the screen under the palette, and of the app."""

    def _commands(self) -> Iterator[tuple[str, str, Any, str, str]]:
        """(name, help, node, action, key) of each enabled, described binding; the node (the app, a
        screen or a widget) runs the action."""
        seen: set[tuple[int, str]] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.system or not active.enabled:
                continue
            if not binding.show and not binding.tooltip:
                continue  # cursor movement and the like: keys, not commands
            identity = (id(active.node), binding.action)
            if identity in seen:
                continue
            seen.add(identity)
            key = self.app.get_key_display(binding)
            yield binding.description, self._help(binding), active.node, binding.action, key
        # The app's own actions, also while a field has the focus (it takes their keys as text).
        for own in self.app.BINDINGS:
            if not isinstance(own, Binding) or not own.description or not own.tooltip:
                continue
            if (id(self.app), own.action) in seen:
                continue
            if self.app.check_action(own.action, ()) is not True:
                continue
            seen.add((id(self.app), own.action))
            yield own.description, own.tooltip, self.app, own.action, self.app.get_key_display(own)

    def _help(self, binding: Binding) -> str:
        """The binding's tooltip; a run action's names the run it acts on (`#4 qwen-lora`)."""
        help_text = binding.tooltip or binding.description
        screen = self.screen
        action = action_of(binding)
        if action is not None and not action.on_marked and isinstance(screen, RunActionScreen):
            run = screen.run_action_target().run
            if run is not None:
                help_text += f" (run #{run.id} {present.literal(run.name)})"
        return help_text

    async def discover(self) -> Hits:
        for name, help_text, node, action, key in self._commands():
            yield DiscoveryHit(
                Content(f"{name}  ({key})"), partial(node.run_action, action), text=name, help=escape(help_text)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, node, action, key in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(
                    score,
                    highlighted(matcher, f"{name}  ({key})"),
                    partial(node.run_action, action),
                    text=name,
                    help=escape(help_text),
                )


class RunCommands(OfTuitune, Provider):
    """`Open run <id> <name>`: jump to a run's detail from anywhere."""

    async def startup(self) -> None:
        app = self.tuitune
        worker = app.run_worker(lambda: app.service.newest_runs(RUNS_OFFERED), thread=True)
        self._runs = await worker.wait()

    async def search(self, query: str) -> Hits:
        app = self.tuitune
        matcher = self.matcher(query)
        for run in getattr(self, "_runs", []):
            text = f"Open run {run.id} {present.literal(run.name)} ({run.status})"
            score = matcher.match(text)
            if score > 0:
                # Run names, models and datasets are the user's text: never markup.
                yield Hit(
                    score,
                    highlighted(matcher, text),
                    partial(app.open_run, run.id),
                    text=text,
                    help=escape(present.literal(f"{run.method} on {run.model}")),
                )


# How many of the newest sweeps the palette offers to compare.
SWEEPS_OFFERED = 50


class QueueCommands(OfTuitune, Provider):
    """Pause or unpause the queue, set its slots, compare a sweep: commands with no key."""

    async def startup(self) -> None:
        app = self.tuitune
        worker = app.run_worker(lambda: (app.service.queue_state(), app.service.sweeps()[:SWEEPS_OFFERED]), thread=True)
        self._state, self._sweeps = await worker.wait()

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], None]]]:
        app = self.tuitune
        state = getattr(self, "_state", None)
        if state is not None:
            if state.paused:
                yield (
                    "Unpause the queue",
                    f"Start queued runs again as slots free up ({state.waiting} waiting).",
                    app.queue_actions.unpause,
                )
            else:
                yield (
                    "Pause the queue",
                    "Start no queued run until you unpause; running runs go on.",
                    app.queue_actions.pause,
                )
            yield (
                f"Queue slots (now {state.slots})",
                "How many runs train at once (default: one per GPU).",
                app.queue_actions.set_slots,
            )
        for sweep in getattr(self, "_sweeps", []):
            # Sweep names are the user's text: never markup.
            yield (
                f"Compare sweep {sweep.id} {present.literal(sweep.name)}",
                "Every run of the sweep: curves, metrics, config diff.",
                partial(app.compare_sweep, sweep.id),
            )

    async def discover(self) -> Hits:
        for name, help_text, call in self._commands():
            yield DiscoveryHit(Content(name), call, text=name, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, call in self._commands():
            score = max(matcher.match(name), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, highlighted(matcher, name), call, text=name, help=escape(help_text))
