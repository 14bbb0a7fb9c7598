"""Training: one run, live from the store, several times a second, without flicker.

A thread worker polls the store for the run's row, the metric points after the last one seen and
the new lines of its log, then posts one `Snapshot`; the screen updates its widgets in place. The
worker waits for each snapshot to be shown before reading again, so a slow terminal never builds
a backlog. The run itself is a separate process: leaving this screen or the app never stops it.

A run waiting in the queue shows its place in line instead of a progress bar, and is followed
as it starts; a run trained by a group of processes shows each rank's device and memory. A
preference or GRPO run shows its objective's key curves beside the loss (`tuitune.runs.metrics`:
for DPO the reward margin and accuracy, for GRPO the mean reward and its spread); the warnings the
run's watch writes (`tuitune.engine.watch`) come with its events.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.message import Message
from textual.widgets import Header, Label, ProgressBar, Static
from textual.worker import get_current_worker

from tuitune.errors import RunNotFoundError
from tuitune.runs import cluster, metrics, present
from tuitune.runs.feed import RunFeed
from tuitune.store import COMPLETED, RUNNING, Event, MetricPoint, Run
from tuitune.store.processes import RunProcess
from tuitune.tui.run_actions import KeyOf, RunActionScreen, Target, applies, bindings
from tuitune.tui.services import MemoryReading
from tuitune.tui.widgets.event_log import EventLog, story
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.metric_panel import MetricPanel
from tuitune.tui.widgets.process_group import group_summary, group_table
from tuitune.tui.widgets.task_bar import TaskBar
from tuitune.tui.wording import for_the_app

POLL_SECONDS = 0.25  # while the screen shows
IDLE_POLL_SECONDS = 2.0  # while another screen shows, or the run has finished
MEMORY_SECONDS = 1.0  # NVML / process readings are slower than a store read
# Panels for an objective's key curves (as many as the objective with the most has), shown
# beside the loss; the grid of panels is this many wide, and as many rows high as they fill.
KEY_PANELS = max(len(curves) for curves in metrics.KEY_CURVES.values())
PANEL_COLUMNS = 3
PANEL_HEIGHT = 4  # MetricPanel's own height: border, value, sparkline


@dataclass
class Snapshot:
    """What changed since the last poll."""

    run: Run
    points: list[MetricPoint] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    evaluations: list[MetricPoint] = field(default_factory=list)  # points with an eval loss, not shown before
    memory: MemoryReading | None = None
    reset: bool = False  # the run restarted (resume): forget what was drawn
    resume_step: int | None = None  # a stopped run's last checkpoint (None: it has none)
    place: tuple[int, int] | None = None  # (place, length of the line) while it waits in the queue
    queue_paused: bool = False
    processes: list[RunProcess] | None = None  # a group run's ranks (None: not read this time)


class TrainingScreen(RunActionScreen):
    """Live view of one run: progress, losses, learning rate, throughput, memory, log. The run
    actions that do not apply to its status are hidden (see `run_actions`)."""

    BINDINGS = [
        *bindings("cancel"),
        Binding("escape", "leave", "Leave", tooltip="Back to the history; the run goes on.", id="training-leave"),
        *bindings("resume", "evaluate", "merge", "upload", "details", "chat"),
    ]

    class Update(Message):
        def __init__(self, generation: int, snapshot: Snapshot) -> None:
            super().__init__()
            self.generation, self.snapshot = generation, snapshot

    class NothingToShow(Message):
        def __init__(self, generation: int) -> None:
            super().__init__()
            self.generation = generation

    def __init__(self) -> None:
        super().__init__()
        self.run: Run | None = None
        self._requested: int | None = None
        self._shown = threading.Event()
        self._visible = True
        self._pace: list[tuple[float, float]] = []  # (unix time, step) for the ETA
        # Bumped whenever the screen starts following a run, so a snapshot the previous poller
        # posted just before it stopped is recognised and dropped (it would draw points twice).
        self._generation = 0
        self._live_memory = False  # NVML or process readings arrived (else: the worker's own)
        self._key_curves: tuple[metrics.KeyCurve, ...] = ()  # the followed run's objective's
        self._key_evals: dict[int, float] = {}  # panel index: its curve's latest evaluation

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Looking for a run…", id="run-title")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield Label("", id="progress-text")
        with Grid(id="metrics"):
            yield MetricPanel("train loss", id="loss")
            for index in range(KEY_PANELS):
                # Titled and shown for a run whose objective has key curves (`_show_key_panels`).
                key = MetricPanel("", id=f"key-{index}", classes="key-curve")
                key.display = False
                yield key
            yield MetricPanel("eval loss", id="eval-loss")
            yield MetricPanel("learning rate", id="lr")
            yield MetricPanel("grad norm", id="grad-norm")
            yield MetricPanel("tokens/s", id="throughput")
            yield MetricPanel("memory", id="memory")
        yield Static("", id="group")
        yield Static("", id="summary")
        yield EventLog(id="log")
        yield TaskBar()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = "training"
        self.tuitune.run_actions.run_changed.subscribe(self, self._run_changed)
        self._start(self._requested)

    def on_unmount(self) -> None:
        self._shown.set()  # a poller waiting for its snapshot to be drawn stops now, not in 5 s

    def on_screen_suspend(self) -> None:
        self._visible = False

    def on_screen_resume(self) -> None:
        self._visible = True

    # --- which run ------------------------------------------------------------------------------
    def follow(self, run_id: int | None) -> None:
        """Show `run_id` (None: the newest running run; see `RunService.latest_running`)."""
        self._requested = run_id
        if self.is_mounted:
            if run_id is None and self.run is not None and self.run.status == RUNNING:
                return  # already following a run that trains (a queued one gives way to it)
            if run_id is not None and self.run is not None and self.run.id == run_id:
                return
            self._start(run_id)

    def _start(self, run_id: int | None) -> None:
        self.run = None
        self._generation += 1
        self._reset_widgets(another_run=True)
        self._poll(run_id, self._generation)

    def _run_changed(self, run_id: int) -> None:
        # A resume from here or elsewhere: the poller notices the status change by itself.
        if self.run is not None and self.run.id == run_id:
            self._shown.set()

    # --- polling (thread) ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="training-poll", exit_on_error=False)
    def _poll(self, run_id: int | None, generation: int) -> None:
        worker = get_current_worker()
        service = self.tuitune.service
        if run_id is None:
            latest = service.latest_running()
            if latest is None:
                self.post_message(self.NothingToShow(generation))
                return
            run_id = latest.id
        feed = RunFeed(run_id, store=service.store)
        last_evaluation = 0  # a resume hands every point again; their evaluations are told once
        last_memory = 0.0
        last_group = 0.0
        while not worker.is_cancelled:
            try:
                update = feed.next()
            except RunNotFoundError:
                self.post_message(self.NothingToShow(generation))
                return
            # Resumed: the points after its checkpoint were replaced, and `points` is all of them.
            run, points, events, reset = update.run, update.points, update.events, update.restarted
            evaluations = [p for p in points if p.eval_loss is not None and p.id > last_evaluation]
            if evaluations:
                last_evaluation = evaluations[-1].id
            memory = None
            now = time.monotonic()
            if run.is_active and not run.on_slurm and now - last_memory >= MEMORY_SECONDS:
                memory, last_memory = service.memory_reading(run.pid, run.devices), now
            resume_step = None if run.is_active else service.resume_step(run)
            place = service.queue_places().get(run.id) if run.in_queue else None
            paused = service.queue_paused() if run.in_queue else False
            processes = None
            if present.process_group(run) is not None and (now - last_group >= MEMORY_SECONDS or not run.is_active):
                processes, last_group = service.processes(run.id), now
            snapshot = Snapshot(run, points, events, evaluations, memory, reset, resume_step, place, paused, processes)
            self._shown.clear()
            self.post_message(self.Update(generation, snapshot))
            # Back-pressure: read again only once this snapshot is on screen.
            self._shown.wait(timeout=5)
            pause = POLL_SECONDS if (self._visible and run.is_active) else IDLE_POLL_SECONDS
            deadline = time.monotonic() + pause
            while not worker.is_cancelled and time.monotonic() < deadline:
                time.sleep(0.05)

    # --- drawing (UI thread) ------------------------------------------------------------------
    @on(NothingToShow)
    def _nothing(self, message: NothingToShow) -> None:
        if message.generation != self._generation:
            return
        self.run = None
        self.query_one("#run-title", Static).update(
            Text("No run to show. Press n to start one, or h to pick one in the history.", style="bold")
        )

    @on(Update)
    def _update(self, message: Update) -> None:
        try:
            if message.generation == self._generation:
                self._draw(message.snapshot)
        finally:
            self._shown.set()

    def _draw(self, snap: Snapshot) -> None:
        run = snap.run
        another_run = self.run is not None and self.run.id != run.id
        if snap.reset or another_run:
            self._reset_widgets(another_run=another_run)
        previous, self.run = self.run, run
        if previous is None or previous.status != run.status:
            self.refresh_bindings()
        if previous is None or previous.id != run.id:
            self._show_key_panels(metrics.key_curves_of(run))
        self._draw_title(run)
        self._draw_progress(run, snap.points, snap.place, snap.queue_paused)
        self._draw_points(snap.points)
        if snap.memory is not None:
            self._draw_memory(snap.memory)
        if snap.processes is not None:
            self._draw_group(run, snap.processes)
        if snap.events or snap.evaluations:
            self.query_one(EventLog).add(story(snap.events, snap.evaluations))
        # A run waiting in the queue, or one that stopped before logging anything, has empty
        # panels: give their room to its story.
        shown = (run.is_active and not run.in_queue) or any(panel.values for panel in self.query(MetricPanel))
        self.query_one("#metrics").display = shown
        self._draw_summary(run, snap.resume_step)

    def _reset_widgets(self, *, another_run: bool = False) -> None:
        """Forget what was drawn: the charts after a resume; everything for another run."""
        if not self.is_mounted:
            return
        for panel in self.query(MetricPanel):
            panel.reset()
        if another_run:
            self.query_one(EventLog).reset()
            # No total until the worker knows it: an empty, pulsing bar, never the last run's.
            self.query_one(ProgressBar).update(total=None, progress=0)
            self.query_one("#progress-text", Label).update("")
        self.query_one("#memory", MetricPanel).border_title = "memory"
        self._key_evals.clear()
        if another_run:
            self._show_key_panels(())
        self._live_memory = False
        self._pace.clear()
        self.query_one("#summary", Static).update("")
        self.query_one("#summary").display = False
        if another_run:
            self.query_one("#group").display = False

    def _show_key_panels(self, curves: tuple[metrics.KeyCurve, ...]) -> None:
        """Title and show a panel per key curve of the run's objective (none for sft), and size the
        grid to the panels shown."""
        self._key_curves = curves
        for index, panel in enumerate(self.query(".key-curve").results(MetricPanel)):
            panel.display = index < len(curves)
            panel.border_title = curves[index].label if index < len(curves) else ""
        grid = self.query_one("#metrics", Grid)
        shown = sum(1 for panel in grid.query(MetricPanel) if panel.display)
        rows = -(-shown // PANEL_COLUMNS)
        grid.styles.grid_size_rows = rows
        grid.styles.height = rows * PANEL_HEIGHT

    def _draw_title(self, run: Run) -> None:
        # Ids and paths keep their end; wider terminals show more of them.
        room = max(30, (self.size.width - len(run.name) - 30) // 2)
        model, dataset = present.literal(run.model), present.literal(run.dataset)
        title = Text.assemble(
            (f"#{run.id} {present.literal(run.name)}  ", "bold"),
            # `starting` for a run whose worker loads, `queued` while it waits in line: as in the history.
            (present.queue_status(run, None), present.STATUS_STYLES.get(run.status, "")),
            (f"  {run.method} on {present.short_model(model, room)} with {present.short_model(dataset, room)}", "dim"),
        )
        if run.on_slurm and run.slurm.get("job_id"):
            # The job, and where it runs; why a pending one waits is the line below.
            nodes = run.slurm.get("nodes") if run.status == "running" else None
            title.append(f"  SLURM job {run.slurm['job_id']}" + (f" on {nodes}" if nodes else ""), style="cyan")
        if run.cancel_requested and run.is_active:
            title.append("  cancelling: finishing the step, saving a checkpoint…", style="bold magenta")
        self.query_one("#run-title", Static).update(title)

    def _draw_group(self, run: Run, processes: list[RunProcess]) -> None:
        group = self.query_one("#group", Static)
        group.update(Group(group_summary(run, processes), group_table(run, processes)))
        group.display = True

    def _draw_progress(
        self, run: Run, points: list[MetricPoint], place: tuple[int, int] | None = None, paused: bool = False
    ) -> None:
        bar = self.query_one(ProgressBar)
        waits = cluster.waits_for(run) if run.on_slurm else None
        if waits is not None:
            # In SLURM's queue: why it waits, in SLURM's word and ours, rather than an empty bar.
            bar.display = False
            self.query_one("#progress-text", Label).update(
                present.literal_text(f"SLURM job {run.slurm.get('job_id')} waits: {waits}", style="bold yellow")
            )
            return
        # Waiting in line: where it stands rather than an empty bar.
        bar.display = not run.in_queue
        if run.in_queue:
            text = Text(
                present.queue_place(place) if place else "queued (waiting for a free slot)", style="bold yellow"
            )
            if paused:
                text.append(
                    "\nthe queue is paused: nothing starts until ctrl+p → Unpause the queue", style="bold magenta"
                )
            self.query_one("#progress-text", Label).update(text)
            return
        if run.steps_total:
            bar.update(total=run.steps_total, progress=run.steps_done)
        elif not run.is_active:
            bar.update(total=1, progress=0)  # stopped before it knew its length: empty, not pulsing
        for point in points:
            self._pace.append((point.time.timestamp(), float(point.step)))
        del self._pace[:-30]
        training = run.config.get("training") or {}
        # With max_steps the run ends by steps, so a total of epochs would mislead.
        epochs = None if training.get("max_steps") else training.get("epochs")
        if not run.steps_total and run.is_active:
            # The worker is still loading: there is no step to count yet.
            parts = ["starting: loading the model and data"]
        else:
            parts = [f"step {run.steps_done}/{run.steps_total or '?'}"]
        if run.epoch is not None:
            parts.append(f"epoch {run.epoch:.2f}" + (f"/{epochs:g}" if isinstance(epochs, (int, float)) else ""))
        if run.is_active and run.steps_total:
            parts.append(f"ETA {present.duration(self._eta(run))}")
        parts.append(f"elapsed {present.duration(run.duration_seconds)}")
        self.query_one("#progress-text", Label).update(Text(" · ".join(parts)))

    def _eta(self, run: Run) -> float | None:
        """Seconds left at the recent pace (last ~30 logged steps), else the average pace."""
        if not run.steps_total or run.steps_done >= run.steps_total:
            return None if not run.steps_total else 0.0
        if len(self._pace) >= 2:
            (t0, s0), (t1, s1) = self._pace[0], self._pace[-1]
            if s1 > s0 and t1 > t0:
                return (run.steps_total - run.steps_done) * (t1 - t0) / (s1 - s0)
        elapsed = run.duration_seconds
        if elapsed and run.steps_done:
            return (run.steps_total - run.steps_done) * elapsed / run.steps_done
        return None

    def _draw_points(self, points: list[MetricPoint]) -> None:
        if not points:
            return
        panels = {
            "loss": ([p.loss for p in points if p.loss is not None], present.number),
            "eval-loss": ([p.eval_loss for p in points if p.eval_loss is not None], present.number),
            "lr": ([p.learning_rate for p in points if p.learning_rate is not None], lambda v: f"{v:.2e}"),
            "grad-norm": ([p.grad_norm for p in points if p.grad_norm is not None], present.number),
            "throughput": (
                [p.tokens_per_second for p in points if p.tokens_per_second is not None],
                lambda v: f"{v:,.0f} tokens/s",
            ),
        }
        for panel_id, (values, show) in panels.items():
            if values:
                panel = self.query_one(f"#{panel_id}", MetricPanel)
                panel.extend(values)
                text = show(values[-1])
                if panel_id in ("loss", "eval-loss") and len(panel.values) > 1:
                    text += f"  (min {present.number(min(panel.values))})"
                panel.set_value(text)
        for index, curve in enumerate(self._key_curves):
            _, values = metrics.curve(points, curve.key)
            if values:
                panel = self.query_one(f"#key-{index}", MetricPanel)
                panel.extend(values)
                text = curve.show(values[-1])
                _, evaluated = metrics.curve(points, metrics.EVAL_PREFIX + curve.key)
                if evaluated:
                    self._key_evals[index] = evaluated[-1]
                if index in self._key_evals:
                    text += f"  eval {curve.show(self._key_evals[index])}"
                panel.set_value(text)
        # Without NVML the worker's own readings are the best memory figure there is.
        reported = [value for p in points if (value := p.gpu_memory_gb or p.cpu_memory_gb)]
        if reported and not self._live_memory:
            panel = self.query_one("#memory", MetricPanel)
            panel.extend(reported)
            panel.set_value(f"{reported[-1]:.2f} GB (worker)")

    def _draw_memory(self, memory: MemoryReading) -> None:
        panel = self.query_one("#memory", MetricPanel)
        if memory.used_gb is None:
            return
        if not self._live_memory:
            panel.reset()  # from now on, the live readings rather than the worker's own
            self._live_memory = True
        panel.border_title = Text(memory.label)
        panel.extend([memory.used_gb])
        total = f"/{memory.total_gb:.1f}" if memory.total_gb else ""
        util = f" · {memory.utilization_percent:.0f}% util" if memory.utilization_percent is not None else ""
        panel.set_value(f"{memory.used_gb:.2f}{total} GB{util}")

    def _draw_summary(self, run: Run, resume_step: int | None) -> None:
        summary = self.query_one("#summary", Static)
        if run.is_active:
            summary.display = False
            return
        text = Text()
        text.append(f"{run.status.capitalize()} ", style=present.STATUS_STYLES.get(run.status, ""))
        text.append(
            f"after {present.plural(run.steps_done, 'step')} in {present.duration(run.duration_seconds)} · "
            f"train loss {present.number(present.latest_train_loss(run))} · "
            f"best eval {present.number(run.best_eval_loss)}"
        )
        if run.error:  # the whole message, wrapped: it says what to do next
            text.append("\n")
            text.append(present.literal(for_the_app(run.error, self.tuitune.key_of)), style="red")
        text.append("\n" + next_steps(run, resume_step, self.tuitune.key_of), style="bold")
        if run.output_dir:
            text.append("\n")
            text.append(present.literal(run.output_dir), style="dim")
        summary.update(text)
        summary.set_class(run.status != COMPLETED, "-stopped")
        summary.display = True

    # --- actions ------------------------------------------------------------------------------
    def run_action_target(self) -> Target:
        return Target(self.run)

    def after_resume(self, run: Run) -> None:
        """Nothing to do: this screen follows the run as it starts again."""

    def action_leave(self) -> None:
        self.tuitune.action_history()


def next_steps(run: Run, resume_step: int | None, key: KeyOf) -> str:
    """The keys that make sense now that the run has stopped, and what they do (`key`: the key
    that does an action now, the user's or the default)."""
    if run.status == COMPLETED:
        keys = [f"{key('chat')} chat", f"{key('evaluate')} evaluate"]
        keys += [f"{key('merge')} merge"] if applies("merge", run) else []
        keys += [f"{key('upload')} upload", f"{key('resume')} train further"]
    elif applies("resume", run):
        keys = [
            f"{key('resume')} resume: "
            + (
                "no checkpoint yet, it starts from step 0"
                if not resume_step
                else f"from the checkpoint at step {resume_step:,}"
            )
        ]
    else:
        keys = [f"{key('new-run')} start a new run with the problem fixed"]
    return " · ".join([*keys, f"{key('details')} details"])
