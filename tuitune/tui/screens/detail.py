"""Run detail: overview and config, charts with axes, evaluations with samples, artifacts, the
chats kept with the run (exported as training data), log."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import yaml
from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Header, Log, Static, TabbedContent, TabPane

from tuitune.errors import RunNotFoundError
from tuitune.runs import cluster, metrics, present
from tuitune.runs.early_stop import early_stop, stop_line
from tuitune.runs.feed import FeedUpdate, RunFeed
from tuitune.runs.present import KeepEnd, literal_text
from tuitune.store import Artifact, Evaluation, MetricPoint, Run
from tuitune.store.conversations import Conversation
from tuitune.store.processes import RunProcess
from tuitune.tui.run_actions import KeyOf, RunActionScreen, Target, bindings
from tuitune.tui.services import LogFollower
from tuitune.tui.widgets.charts import LineChart, Series
from tuitune.tui.widgets.footer import FittingFooter
from tuitune.tui.widgets.process_group import group_summary, group_table
from tuitune.tui.widgets.task_bar import TaskBar
from tuitune.tui.wording import for_the_app

REFRESH_SECONDS = 2.0  # while the run is active


@dataclass
class RunDetails:
    run: Run
    points: list[MetricPoint] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    processes: list[RunProcess] = field(default_factory=list)  # a group run's ranks
    conversations: list[Conversation] = field(default_factory=list)  # newest first
    restarted: bool = False  # resumed: `points` is the run's whole history, to draw afresh


class RunDetailScreen(RunActionScreen):
    """Everything about one run, in tabs (left/right on the tab bar, or click); the run actions that
    do not apply to its status are hidden (see `run_actions`)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the history.", id="detail-back"),
        Binding("t", "training", "Live view", tooltip="The training screen of this run.", id="detail-training"),
        *bindings(
            "resume",
            "evaluate",
            "merge",
            "export",
            "upload",
            "delete",
            "cancel",
            "chat",
            "export-chats",
            "label",
            "rerun",
        ),
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: Run | None = None
        self._follower: LogFollower | None = None
        self._feed: RunFeed | None = None
        # Loads may overlap (a tick and a change): one at a time reads the feed and hands it over.
        self._feed_lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self.conversations: list[Conversation] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="detail-tabs"):
            with TabPane("Overview", id="overview"):
                with VerticalScroll():
                    yield Static("Loading…", id="overview-text")
            with TabPane("Charts", id="charts"):
                with Vertical():
                    yield LineChart("loss", id="loss-chart")
                    # Beside the learning rate (three charts stacked leave each two rows at 80x24):
                    # a preference or GRPO run's key curves (`tuitune.runs.metrics`); none for sft.
                    lower = Horizontal(id="lower-charts")
                    lower.styles.height = "1fr"  # as tall as the loss chart above, as the charts were
                    with lower:
                        key_chart = LineChart("rewards", id="key-chart")
                        key_chart.styles.width = "2fr"
                        key_chart.display = False
                        yield key_chart
                        yield LineChart("learning rate", id="lr-chart")
            with TabPane("Evaluations", id="evaluations"):
                with VerticalScroll():
                    yield Static("", id="evaluations-text")
            with TabPane("Artifacts", id="artifacts"):
                with VerticalScroll():
                    yield Static("", id="artifacts-text")
            with TabPane("Chats", id="chats"):
                with VerticalScroll():
                    yield Static("", id="chats-text")
            with TabPane("Log", id="log-pane"):
                yield Log(max_lines=5000, id="detail-log")
        yield TaskBar()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.sub_title = f"run {self.run_id}"
        self.tuitune.run_actions.run_changed.subscribe(self, self._changed)
        self.load()
        self.set_interval(REFRESH_SECONDS, self._tick)

    def on_screen_resume(self) -> None:
        if self.run is not None:
            self.load()  # back from a chat: it was saved with the run

    def _tick(self) -> None:
        if self.run is not None and self.run.is_active:
            self.load()

    def _changed(self, run_id: int) -> None:
        if run_id == self.run_id:
            self.load()

    @work(thread=True, exclusive=True, group="detail-load", exit_on_error=False)
    def load(self) -> None:
        service = self.tuitune.service
        with self._feed_lock:
            try:
                if self._feed is None:
                    self._feed = RunFeed(self.run_id, store=service.store)
                update = self._feed.next()
            except RunNotFoundError as error:
                self.tuitune.call_from_thread(self._gone, str(error))
                return
            self._load(update)

    def _load(self, update: FeedUpdate) -> None:
        service = self.tuitune.service
        run = update.run
        if self._follower is None:
            self._follower = LogFollower(service.log_path(run), start_tail_bytes=256_000)
        details = RunDetails(
            run=run,
            points=update.points,
            restarted=update.restarted,
            evaluations=service.evaluations(run.id),
            artifacts=service.artifacts(run.id),
            log_lines=self._follower.read_new_lines(),
            processes=service.processes(run.id) if present.process_group(run) else [],
            conversations=service.conversations(run.id),
        )
        self.tuitune.call_from_thread(self._show, details)

    def _gone(self, error: str) -> None:
        self.notify(error, severity="warning")
        self.dismiss()

    def _show(self, details: RunDetails) -> None:
        run = details.run
        status_changed = self.run is None or self.run.status != run.status
        self.run = run
        if status_changed:
            self.refresh_bindings()
        if details.restarted:
            self._points = list(details.points)
            self._draw_charts()
        elif details.points:
            self._points.extend(details.points)
            self._draw_charts()
        elif status_changed and not self._points:
            self._draw_charts()
        stopped = early_stop(details.artifacts)
        self.query_one("#overview-text", Static).update(overview(run, details.processes, stopped))
        self.query_one("#evaluations-text", Static).update(evaluations_view(details.evaluations, self.tuitune.key_of))
        self.query_one("#artifacts-text", Static).update(artifacts_view(run, details.artifacts))
        if bool(self.conversations) != bool(details.conversations):
            self.refresh_bindings()  # export is offered once there is a chat to export
        self.conversations = details.conversations
        self.query_one("#chats-text", Static).update(chats_view(details.conversations, self.tuitune.key_of))
        if details.log_lines:
            # The worker's log quotes model output and data: control characters shown escaped.
            self.query_one("#detail-log", Log).write_lines([present.literal(line) for line in details.log_lines])

    def _draw_charts(self) -> None:
        points = self._points
        train = [(p.step, p.loss) for p in points if p.loss is not None]
        evals = [(p.step, p.eval_loss) for p in points if p.eval_loss is not None]
        rates = [(p.step, p.learning_rate) for p in points if p.learning_rate is not None]
        self.query_one("#loss-chart", LineChart).show(
            [
                Series("train", [s for s, _ in train], [v for _, v in train]),
                Series("eval", [s for s, _ in evals], [v for _, v in evals]),
            ],
            xlabel="step",
            ylabel="loss",
        )
        self.query_one("#lr-chart", LineChart).show(
            [Series("learning rate", [s for s, _ in rates], [v for _, v in rates])], xlabel="step"
        )
        curves = metrics.key_curves_of(self.run) if self.run is not None else ()
        key_chart = self.query_one("#key-chart", LineChart)
        key_chart.display = bool(curves)
        if curves:
            series = []
            for curve in curves:
                series.append(Series(curve.label, *metrics.curve(points, curve.key)))
                series.append(Series(f"eval {curve.label}", *metrics.curve(points, metrics.EVAL_PREFIX + curve.key)))
            key_chart.show(series, xlabel="step")

    # --- actions ----------------------------------------------------------------------------------
    def run_action_target(self) -> Target:
        return Target(self.run, chats=len(self.conversations))

    def after_delete(self, run: Run) -> None:
        self.dismiss()  # this run is gone: back to the history

    def action_training(self) -> None:
        self.tuitune.show_training(self.run_id)


def overview(run: Run, processes: list[RunProcess] | None = None, stopped: dict[str, Any] | None = None) -> Group:
    """Status, numbers, the process group (when several processes train it), the early stop (`stopped`:
    `tuitune.runs.early_stop`) and the configuration that ran."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    # Every cell is Text: names, models, paths and errors are the user's text, never markup.
    facts.add_row("run", literal_text(f"#{run.id} {run.name}"))
    facts.add_row("status", present.status_text(run.status))
    if run.error:
        facts.add_row("error", literal_text(for_the_app(run.error), style="red"))
    facts.add_row("method", literal_text(f"{run.method} on {run.model}"))
    facts.add_row("dataset", literal_text(run.dataset))
    if run.on_slurm:
        facts.add_row("slurm", literal_text(cluster.job_words(run) or "not submitted yet", style="cyan"))
        waits = cluster.waits_for(run)
        if waits:
            facts.add_row("waits", literal_text(waits, style="yellow"))
    if run.tags:
        facts.add_row("tags", literal_text(" ".join(run.tags), style="cyan"))
    if run.notes:
        facts.add_row("note", literal_text(run.notes))
    facts.add_row(
        "steps",
        Text(
            f"{run.steps_done}/{run.steps_total or '?'}"
            + (f" · epoch {run.epoch:.2f}" if run.epoch is not None else "")
        ),
    )
    if stopped:
        facts.add_row("early stop", literal_text(stop_line(stopped), style="yellow"))
    facts.add_row(
        "losses",
        Text(
            f"train {present.number(present.latest_train_loss(run))} · "
            f"last eval {present.number(run.last_eval_loss)} · best eval {present.number(run.best_eval_loss)}"
        ),
    )
    facts.add_row("speed", Text(f"{run.tokens_per_second:,.0f} tokens/s" if run.tokens_per_second else "–"))
    facts.add_row("started", Text(present.moment(run.started_at or run.created_at)))
    facts.add_row("duration", Text(present.duration(run.duration_seconds)))
    facts.add_row("folder", literal_text(run.output_dir or "–"))
    if run.checkpoint:
        facts.add_row("checkpoint", literal_text(run.checkpoint))

    parts: list = [facts]
    if present.process_group(run):
        parts += [
            Text("\nprocesses", style="bold"),
            group_summary(run, processes or []),
            group_table(run, processes or []),
        ]
    config = yaml.safe_dump(run.config, sort_keys=False, allow_unicode=True)
    parts += [
        Text("\nconfig.yaml", style="bold"),
        Syntax(config, "yaml", theme="ansi_dark", background_color="default"),
    ]
    return Group(*parts)


def evaluations_view(evaluations: list[Evaluation], key: KeyOf) -> Group | Text:
    """Latest fine-tuned and base scores side by side, then the kept samples side by side (`key`:
    the key that does an action now)."""
    if not evaluations:
        return Text(
            f"No evaluations yet. Press {key('evaluate')} to evaluate this run against its base model.", style="dim"
        )
    latest: dict[str, Evaluation] = {}
    for evaluation in evaluations:  # newest first
        latest.setdefault(evaluation.label, evaluation)
    tuned, base = latest.get("finetuned"), latest.get("base")
    scores = Table(title="Scores (latest evaluation)", expand=True)
    scores.add_column("metric", style="bold")
    scores.add_column("base", justify="right")
    scores.add_column("fine-tuned", justify="right")
    scores.add_column("change", justify="right")
    names = list(dict.fromkeys([*(tuned.metrics if tuned else {}), *(base.metrics if base else {})]))
    for name in names:
        after = tuned.metrics.get(name) if tuned else None
        before = base.metrics.get(name) if base else None
        change = score_change(name, before, after)
        scores.add_row(
            Text(name),
            present.number(before) if isinstance(before, (int, float)) else "–",
            present.number(after) if isinstance(after, (int, float)) else "–",
            change,
        )
    parts: list = [scores]
    source = tuned or base
    meaning = source.settings.get("reward_meaning") if source is not None else None
    if isinstance(meaning, str):  # a preference or grpo run's reward scores, in words
        parts.append(literal_text(meaning, style="dim"))
    samples = source.samples if source else []
    if source is not None and samples:
        parts.append(Text(f"\nSamples ({len(samples)} kept of {source.sample_count})", style="bold"))
        for number, sample in enumerate(samples, start=1):
            parts += sample_view(number, sample)
    return Group(*parts)


def sample_view(number: int, sample: dict) -> list:
    """One kept sample: the prompt as the user wrote it under its own header, then the reference
    and both answers side by side under theirs (with a grpo run's reward for each answer)."""
    heading = Text(f"\n{number}. prompt", style="bold cyan")
    answers = Table(expand=True, show_lines=False, padding=(0, 1))
    answers.add_column("reference", ratio=1)
    answers.add_column(_rewarded("base", sample.get("base_reward")), ratio=1)
    answers.add_column(_rewarded("fine-tuned", sample.get("finetuned_reward")), ratio=1)
    answers.add_row(
        literal_text(sample.get("reference", "")),
        literal_text(sample.get("base", "–"), style="dim"),
        literal_text(sample.get("finetuned", "–"), style="green"),
    )
    return [heading, prompt_text(sample), answers]


def _rewarded(header: str, reward: object) -> str:
    return f"{header} (reward {present.number(reward)})" if isinstance(reward, (int, float)) else header


def prompt_text(sample: dict) -> Text:
    """A sample's prompt as the user's text: its messages' contents (`system:` and earlier turns
    named by their role), never the template's markup around them. A sample kept before the
    messages were (an older evaluation) shows its prompt as the model read it."""
    messages = [m for m in sample.get("messages") or [] if isinstance(m, dict)]
    if not messages:
        return literal_text(sample.get("prompt", ""))
    if len(messages) == 1 and messages[0].get("role") == "user":
        return literal_text(messages[0].get("content", ""))
    text = Text()
    for index, message in enumerate(messages):
        if index:
            text.append("\n")
        text.append(f"{present.literal(message.get('role', ''))}: ", style="dim")
        text.append(present.literal(message.get("content", "")))
    return text


def score_change(metric: str, before: object, after: object) -> Text:
    """`▼ 392.6 better`: which way the score moved, by how much, and whether that is good.

    A signed difference read wrongly for perplexity, where a drop is the improvement.
    """
    if not isinstance(after, (int, float)) or not isinstance(before, (int, float)):
        return Text("–")
    difference = after - before
    if difference == 0:
        return Text("same", style="dim")
    better = difference < 0 if metric in metrics.LOWER_IS_BETTER else difference > 0
    arrow = "▼" if difference < 0 else "▲"
    return Text(
        f"{arrow} {present.number(abs(difference))} {'better' if better else 'worse'}",
        style="green" if better else "red",
    )


def chats_view(conversations: list[Conversation], key: KeyOf) -> Group | Text:
    """The chats kept with the run, newest first: each prompt and the answers beside it (`key`: the
    key that does an action now)."""
    if not conversations:
        return Text(
            f"No chats yet. Press {key('chat')} to chat with this run's model (beside its base); every answer is kept here.",
            style="dim",
        )
    parts: list = [
        Text(
            f"{len(conversations)} saved chat{'s' if len(conversations) != 1 else ''} · "
            f"{key('export-chats')} exports them as training data\n",
            style="bold",
        )
    ]
    for conversation in conversations:
        heading = Text(f"#{conversation.id} ", style="bold cyan")
        heading.append(present.literal(conversation.title), style="bold")
        heading.append(
            f" · {len(conversation.turns)} turn{'s' if len(conversation.turns) != 1 else ''} · {present.moment(conversation.updated_at)}",
            style="dim",
        )
        parts.append(heading)
        if conversation.settings.get("system_prompt"):
            parts.append(literal_text(f"system: {conversation.settings['system_prompt']}", style="dim"))
        for turn in conversation.turns:
            parts.append(literal_text(f"you: {turn.get('prompt', '')}", style="bold"))
            for which, answer in (turn.get("answers") or {}).items():
                label = present.MODEL_LABELS.get(which, which)
                line = literal_text(f"{label}: ", style="green" if which != "base" else "dim")
                line.append(present.literal(answer.get("text", "")))
                parts.append(line)
        parts.append(Text(""))
    return Group(*parts)


def artifacts_view(run: Run, artifacts: list[Artifact]) -> Group | Text:
    """What the run produced; inside the run's folder a path is shown from there, and a path too
    long for its cell keeps its end (`…/checkpoint-40`), so no two rows read the same. One whose
    file or folder is no longer on disk (a checkpoint past `save_total_limit`) says so."""
    if not artifacts:
        return literal_text(
            "No artifacts recorded yet." + (f"\nRun folder: {run.output_dir}" if run.output_dir else ""), style="dim"
        )
    table = Table(expand=True)
    table.add_column("kind", style="bold", no_wrap=True)
    table.add_column("path", ratio=1)
    table.add_column("recorded", no_wrap=True)
    table.add_column("on disk", no_wrap=True)
    for artifact in artifacts:
        table.add_row(
            literal_text(present.artifact_kind(artifact.kind, artifact.meta)),
            KeepEnd(_inside(run, artifact.path), style="dim" if artifact.gone else ""),
            Text(present.short_moment(artifact.created_at)),
            _on_disk(artifact),
        )
    parts: list = []
    if run.output_dir:
        parts.append(Text.assemble(("run folder ", "bold"), (present.literal(run.output_dir), "dim")))
    parts.append(table)
    if any(artifact.gone for artifact in artifacts):
        parts.append(
            Text(
                "gone: no longer on disk (the trainer keeps only the newest save_total_limit checkpoints).",
                style="dim",
            )
        )
    return Group(*parts)


def _on_disk(artifact: Artifact) -> Text:
    if artifact.gone:
        return Text("gone", style="yellow")
    return Text("–" if artifact.kind == "upload" else "✓", style="green")  # an upload is a URL


def _inside(run: Run, path: str) -> str:
    """`path` from the run's folder when it lies inside it (`checkpoints/checkpoint-40`)."""
    folder = run.output_dir
    if folder and path.startswith(folder.rstrip("/") + "/"):
        return path[len(folder.rstrip("/")) + 1 :]
    return path
