"""History: every run in one table; sort, filter, mark, and act on the run under the cursor.

Queued runs show their place in line (`queued 2/5`) and move with `[` and `]`; a sweep is a
filter (`sweep:3`), and compare (`v`) with that filter and nothing marked compares the whole sweep.
The run actions come from their table (`run_actions`): offered for every row, and refused with
words where they do not apply, so the footer stays still as the cursor moves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Input, Static

from tuitune.errors import RunNotFoundError, TuituneError
from tuitune.runs import present
from tuitune.runs.labels import label_words
from tuitune.runs.listing import RUN_SORTS
from tuitune.store import Run
from tuitune.tui.run_actions import RunActionScreen, Target, bindings
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.run_table import RunTable, TableColumn, TableRow
from tuitune.tui.widgets.task_bar import TaskBar
from tuitune.tui.wording import for_the_app

if TYPE_CHECKING:
    from tuitune.service.runs import QueueState
    from tuitune.store.sweeps import Sweep

# How often the table looks for new runs and status changes (only active and new rows are read).
REFRESH_SECONDS = 2.0
# The newest runs, read before the first frame so that it shows them (a screenful and more); the
# whole history is read just after, off the UI thread.
FIRST_PAGE = 200

# Numbers first, long names last. The table fits the screen's width: the name, model, method and
# dataset give way first (a model or a dataset keeps the end of its id, a name its start), so at
# 120 columns every column is in view; at 80 the figures that compare runs stay in view and the
# rest is a scroll to the right away.
COLUMNS = [
    TableColumn("mark", " ", max_width=1),
    TableColumn("id", "id", max_width=7, align_right=True),
    TableColumn("name", "name", max_width=24, min_width=10),
    TableColumn("status", "status", max_width=12),
    TableColumn("steps", "steps", max_width=11, align_right=True),
    TableColumn("loss", "loss", max_width=8, align_right=True),
    TableColumn("best_eval", "best eval", max_width=9, align_right=True),
    TableColumn("rouge", "ROUGE-L", max_width=7, align_right=True),
    TableColumn("model", "model", max_width=24, min_width=10, shorten=present.short_model),
    TableColumn("method", "method", max_width=24, min_width=7),
    TableColumn("dataset", "dataset", max_width=24, min_width=12, shorten=present.short_model),
    # `2025-03-14 09:26`, or `03-14 09:26` when the room is short.
    TableColumn("started", "started", max_width=16, min_width=11, shorten=lambda text, width: text[-11:]),
    TableColumn("duration", "duration", max_width=8, align_right=True),
]
_STATUS_INDEX = {column.key: index for index, column in enumerate(COLUMNS)}["status"]
# `sweep:3` in the filter: that sweep's runs.
SWEEP_FILTER = re.compile(r"(?:^|\s)sweep:(\d+)(?:\s|$)")


def history_row(run: Run, rouge: float | None, place: tuple[int, int] | None = None) -> TableRow:
    """The table's view of a run: display text, colours, sort values and filter text.

    `place`: (place, length of the line) while the run waits in the queue.
    """
    steps = (
        f"{run.steps_done}/{run.steps_total}" if run.steps_total else (str(run.steps_done) if run.steps_done else "–")
    )
    started = run.started_at or run.created_at
    method = present.method_label(run)
    cells = (
        "",
        str(run.id),
        present.literal(run.name),
        present.queue_status(run, place),
        steps,
        present.number(run.last_loss),
        present.number(run.best_eval_loss),
        present.number(rouge, 3) if rouge is not None else "–",
        present.literal(run.model),
        # `lora · dpo` for a run whose objective is not sft: at 80 columns it still fits.
        f"{method} {group}" if (group := present.group_label(run)) else method,
        present.literal(run.dataset),
        present.moment(started),
        present.duration(run.duration_seconds),
    )
    # The sort keys every face shares (tuitune/runs/listing.py); the method column sorts as it reads.
    sort_values = (
        None,
        *(RUN_SORTS[key](run) for key in ("id", "name", "status", "steps", "loss", "eval_loss")),
        rouge,
        RUN_SORTS["model"](run),
        method,
        *(RUN_SORTS[key](run) for key in ("dataset", "started", "duration")),
    )
    words = [str(run.id), run.name, run.status, run.model, method, run.dataset, *label_words(run.notes, run.tags)]
    if run.sweep_id is not None:
        words.append(f"sweep:{run.sweep_id}")
    search = " ".join(words).lower()
    return TableRow(
        key=run.id,
        cells=cells,
        styles={_STATUS_INDEX: present.STATUS_STYLES.get(run.status, "")},
        sort_values=sort_values,
        search_text=search,
    )


class HistoryScreen(RunActionScreen):
    """Every run, newest first; stays responsive with 10,000 runs (see `RunTable`)."""

    HIDES_WHAT_DOES_NOT_APPLY = False  # the footer stays still; a key that does not apply says why
    # The table has the focus from the start (Textual's default is the first field, the filter):
    # the footer's first drawing already offers the table's keys.
    AUTO_FOCUS = "#runs"

    BINDINGS = [
        # Shown only while a waiting run is under the cursor (check_action).
        Binding(
            "left_square_bracket",
            "move_in_queue(-1)",
            "Earlier",
            tooltip="Move the queued run one place earlier in the line.",
            id="history-queue-earlier",
        ),
        Binding(
            "right_square_bracket",
            "move_in_queue(1)",
            "Later",
            tooltip="Move the queued run one place later in the line.",
            id="history-queue-later",
        ),
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            tooltip="Type to filter runs by id, name, status, model, method, dataset, tag or note; tag:NAME looks in the tags only, sweep:N shows sweep N.",
            id="history-filter",
        ),
        Binding(
            "s",
            "sort_menu",
            "Sort",
            tooltip="Pick the column to sort by (again: reverse). Clicking a header sorts too.",
            id="history-sort",
        ),
        Binding(
            "S",
            "reverse_sort",
            "Reverse",
            show=False,
            tooltip="Reverse the order of the current sort.",
            id="history-reverse-sort",
        ),
        *bindings(
            "compare", "resume", "chat", "evaluate", "merge", "upload", "delete", "cancel", "export", "label", "rerun"
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            tooltip="Clear the filter and return to the table.",
            id="history-clear-filter",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._runs: dict[int, Run] = {}
        self._scores: dict[int, float] = {}
        self._places: dict[int, tuple[int, int]] = {}  # runs waiting in the queue: (place, length)
        self._queue: QueueState | None = None
        self._sweeps: dict[int, Sweep] = {}
        self._loaded = False
        self._total = 0  # runs in the store, while only the first page is in the table

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ filter: id, name, status, model, dataset, tag:NAME, note, sweep:N", id="filter")
        yield RunTable(COLUMNS, id="runs")
        yield Static("", id="selection")
        yield TaskBar()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "history"
        self.query_one(RunTable).focus()
        self.tuitune.run_actions.run_changed.subscribe(self, self._run_changed)
        self.tuitune.queue_actions.changed.subscribe(self, lambda _: self.refresh_active())
        self._show_first_page()
        # After the first paint: the thread's imports (the queue's engine) would compete with it.
        self.tuitune.after_first_frame(self.load)
        self.set_interval(REFRESH_SECONDS, self.refresh_active)

    def on_screen_resume(self) -> None:
        if self._loaded:
            self.refresh_active()

    # --- loading ------------------------------------------------------------------------------
    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    def _show_first_page(self) -> None:
        """The newest runs, read here so that the first frame shows them; `load` reads the rest,
        the queue's state where nothing waits in it, and the sweeps (needed by a `sweep:N` filter)."""
        service = self.tuitune.service
        try:
            runs = service.newest_runs(FIRST_PAGE)
            self._total = service.count_runs() if len(runs) == FIRST_PAGE else len(runs)
            self._scores = service.latest_scores()
            self._places = service.queue_places()
            self._queue = service.queue_if_waiting(self._places)
        except TuituneError:
            return  # `load` meets it too, and says what it is
        self._runs = {run.id: run for run in runs}
        self.table.set_rows(history_row(run, self._scores.get(run.id), self._places.get(run.id)) for run in runs)
        self._show_selection()

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def load(self) -> None:
        """Read every run once and build the rows off the UI thread."""
        service = self.tuitune.service
        runs = service.list_runs()
        scores = service.latest_scores()
        places = service.queue_places()
        queue = service.queue_state()
        sweeps = {sweep.id: sweep for sweep in service.sweeps()}
        rows = [history_row(run, scores.get(run.id), places.get(run.id)) for run in runs]
        self.tuitune.call_from_thread(self._show_all, runs, scores, places, queue, sweeps, rows)

    def _show_all(
        self,
        runs: list[Run],
        scores: dict[int, float],
        places: dict[int, tuple[int, int]],
        queue: QueueState,
        sweeps: dict[int, Sweep],
        rows: list[TableRow],
    ) -> None:
        self._runs = {run.id: run for run in runs}
        self._scores = scores
        self._places, self._queue, self._sweeps = places, queue, sweeps
        self.table.set_rows(rows)
        self._loaded = True
        self._show_selection()

    @work(thread=True, exclusive=True, group="history-refresh", exit_on_error=False)
    def refresh_active(self) -> None:
        """Re-read only what can have changed: active runs, runs that just stopped, new runs."""
        if not self._loaded:
            return
        service = self.tuitune.service
        new = [run for run in service.newest_runs(20) if run.id not in self._runs]
        if service.count_runs() != len(self._runs) + len(new):
            self.load()  # runs were deleted elsewhere, or many appeared at once
            return
        if any(run.sweep_id is not None and run.sweep_id not in self._sweeps for run in new):
            self.load()  # a new sweep: its name is needed for the filter line
            return
        changed = {run.id: run for run in new}
        changed.update({run.id: run for run in service.active_runs()})
        for run_id, run in list(self._runs.items()):
            if run.is_active and run_id not in changed:
                try:
                    changed[run_id] = service.get_run(run_id)  # it finished, failed or crashed
                except RunNotFoundError:  # deleted elsewhere meanwhile
                    self.load()
                    return
        # Places in line move when a run starts, is moved or leaves the queue: cheap to read.
        places = service.queue_places()
        queue = service.queue_state()
        if changed or places != self._places or queue != self._queue:
            self.tuitune.call_from_thread(self._update_runs, list(changed.values()), places, queue)

    def _update_runs(self, runs: Iterable[Run], places: dict[int, tuple[int, int]], queue: QueueState) -> None:
        moved = {run_id for run_id in set(places) | set(self._places) if places.get(run_id) != self._places.get(run_id)}
        self._places, self._queue = places, queue
        fresh = {run.id: run for run in runs if run != self._runs.get(run.id)}
        for run_id in moved - fresh.keys():
            if run_id in self._runs:
                fresh[run_id] = self._runs[run_id]
        self._runs.update(fresh)
        if fresh:
            self.table.upsert(history_row(run, self._scores.get(run.id), places.get(run.id)) for run in fresh.values())
        self._show_selection()

    def _run_changed(self, run_id: int) -> None:
        self._refresh_one(run_id)

    @work(thread=True, group="history-one", exit_on_error=False)
    def _refresh_one(self, run_id: int) -> None:
        service = self.tuitune.service
        try:
            run = service.get_run(run_id)
        except RunNotFoundError:
            self.tuitune.call_from_thread(self._removed, run_id)
            return
        score = service.latest_scores().get(run_id)
        places = service.queue_places()
        queue = service.queue_state()
        self.tuitune.call_from_thread(self._refreshed, run, score, places, queue)

    def _refreshed(self, run: Run, score: float | None, places: dict[int, tuple[int, int]], queue: QueueState) -> None:
        if score is not None:
            self._scores[run.id] = score
        self._runs[run.id] = run
        self.table.upsert([history_row(run, self._scores.get(run.id), places.get(run.id))])
        self._update_runs([], places, queue)

    def _removed(self, run_id: int) -> None:
        self._runs.pop(run_id, None)
        self.table.forget(run_id)
        self._show_selection()

    # --- the run under the cursor -----------------------------------------------------------
    def selected_run(self) -> Run | None:
        key = self.table.cursor_key if self.is_mounted else None
        return self._runs.get(cast(int, key)) if key is not None else None

    def selected_active_run_id(self) -> int | None:
        run = self.selected_run()
        return run.id if run is not None and run.is_active else None

    @on(RunTable.Highlighted)
    @on(RunTable.MarksChanged)
    def _show_selection(self) -> None:
        table = self.table
        line = Text()
        if not self._runs:
            line.append("No runs yet. Press n to start one (the demo trains in seconds).", style="bold")
        else:
            run = self.selected_run()
            count = table.total_count if self._loaded else max(table.total_count, self._total)
            total = present.plural(count, "run")
            shown = f"{table.row_count:,} of {total}" if table.row_count != count else total
            line.append(shown, style="bold")
            sweep = self.sweep_filter()
            if sweep is not None:
                named = self._sweeps.get(sweep)
                line.append(f" · sweep {sweep}" + (f" {named.name}" if named else ""), style="bold cyan")
                if not table.marked and table.row_count > 1:
                    line.append(f" ({self.tuitune.key_of('compare')} compares them all)")
            if table.marked:
                line.append(f" · {len(table.marked)} marked", style="bold yellow")
            queue = self._queue
            if queue is not None and (queue.waiting or queue.paused):
                state = f" · queue: {queue.waiting} waiting for {present.plural(queue.slots, 'slot')}"
                line.append(
                    state + (", paused" if queue.paused else ""), style="bold magenta" if queue.paused else "yellow"
                )
            if run is not None:
                line.append(f" · #{run.id} {present.literal(run.name)} ")
                line.append(
                    present.queue_status(run, self._places.get(run.id)), style=present.STATUS_STYLES.get(run.status, "")
                )
                if run.error:
                    line.append(f" · {present.literal(for_the_app(run.error))}", style="red")
                elif run.output_dir:
                    # The folder keeps its end (the run's own folder) in the room left on the line.
                    room = self.size.width - 2 - line.cell_len - 3
                    if room >= 12:
                        line.append(f" · {present.short_model(present.literal(run.output_dir), room)}", style="dim")
        self.query_one("#selection", Static).update(line)
        self.refresh_bindings()  # what the footer offers depends on the run under the cursor

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "move_in_queue":
            run = self.selected_run()
            return run is not None and run.in_queue
        return super().check_action(action, parameters)

    def run_action_target(self) -> Target:
        """The run under the cursor, the marked runs and the sweep the filter shows."""
        marked = tuple(self._runs[key] for key in self.table.marked if key in self._runs) if self.is_mounted else ()
        return Target(self.selected_run(), marked=marked, sweep=self.sweep_filter())

    def sweep_filter(self) -> int | None:
        """The sweep the filter asks for (`sweep:3`), if it does."""
        if not self.is_mounted:
            return None
        found = SWEEP_FILTER.search(self.query_one("#filter", Input).value.lower())
        return int(found.group(1)) if found else None

    @on(RunTable.Selected)
    def _open(self, event: RunTable.Selected) -> None:
        self.tuitune.open_run(cast(int, event.key))

    # --- filter and sort -------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)
        self._show_selection()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""
        self.table.focus()

    def action_sort_menu(self) -> None:
        from tuitune.tui.widgets.sort_menu import SortMenu

        table = self.table
        columns = [(column.key, column.label) for column in COLUMNS if column.key != "mark"]

        def chosen(choice: tuple[str, bool] | None) -> None:
            if choice is not None:
                table.sort_by(*choice)

        self.tuitune.push_screen(SortMenu(columns, table.sort_column, table.sort_reverse), chosen)

    def action_reverse_sort(self) -> None:
        table = self.table
        # Unsorted means newest first (by id, descending): reversed, oldest first.
        table.sort_by(table.sort_column or "id", not table.sort_reverse if table.sort_column else False)

    @on(RunTable.SortChanged)
    def _sorted(self, event: RunTable.SortChanged) -> None:
        label = next(c.label for c in COLUMNS if c.key == event.column)
        self.notify(f"Sorted by {label}, {'descending' if event.reverse else 'ascending'}", timeout=2)

    # --- the queue ----------------------------------------------------------------------------
    def action_move_in_queue(self, delta: int) -> None:
        run = self.selected_run()
        place = self._places.get(run.id) if run is not None else None
        if run is None or place is None:
            self.notify("Only a run waiting in the queue moves in the line.", severity="warning")
            return
        self.tuitune.queue_actions.move(run, place[0] + delta)
