"""A run as a document, declared once: what every face prints or serves about a run.

`tuitune show --json` and `GET /runs/{id}` print a `RunReport`; the stream's `status` and `end`
events carry a run's `Progress` (a `RunDocument` is its progress and the rest of the run, so the
two always agree); `tuitune runs --json` and `GET /runs` list `ListedRun`s; the job service's
routes answer in its own words (`Job`); `train`/`resume` end with a `RunOutcome`; `compare` puts
one `RunSummary` per run side by side. Each is built from the store's records by one function
below; the faces serialise it with `model_dump(mode="json")` (FastAPI does the same with the
route's `response_model`), so `/openapi.json` describes exactly what comes back.

Light: pydantic and the store only (no torch, fastapi or textual).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PlainSerializer, computed_field

from tuitune.runs.metrics import KEY_CURVES, LOWER_IS_BETTER, KeyCurve, objective_of
from tuitune.runs.metrics import key_curves as objective_curves
from tuitune.store import ALL, BASE, FINETUNED, RUNNING, Artifact, Evaluation, Event, MetricPoint, Run, Store


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# A record's datetime (aware UTC) as the faces have always written it: `isoformat()`,
# "2025-01-02T03:04:05.678901+00:00" (pydantic's own JSON form would end in "Z").
Moment = Annotated[datetime, PlainSerializer(_iso, return_type=str, when_used="json")]

STATUS_HELP = f"One of {', '.join(ALL)}."
OBJECTIVE_HELP = f"What the weights learn from (the config's objective): one of {', '.join(KEY_CURVES)}."
KEY_CURVES_HELP = (
    "The metrics that tell how its objective is doing, the most telling first (none for sft); their last "
    "values are in metrics.latest, under their keys."
)


class Document(BaseModel):
    """A JSON document a face emits. Built from a record's attributes of the same names."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())


# --- a run ---------------------------------------------------------------------------------


class Progress(Document):
    """How far a run has got: what a live view redraws on each change (the stream's `status`
    and `end` events). Every field is also a `RunDocument` field, with the same value."""

    id: int
    status: str = Field(description=STATUS_HELP)
    steps_done: int
    steps_total: int | None = Field(description="None while the run does not know its length yet.")
    epoch: float | None
    last_loss: float | None = Field(description="The last logged training loss.")
    last_eval_loss: float | None
    best_eval_loss: float | None
    tokens_per_second: float | None = Field(description="Its mean over the time it trained, across resumes.")
    error: str | None
    in_queue: bool = Field(description="Waiting in the queue for a free slot.")
    started_at: Moment | None
    finished_at: Moment | None
    slurm_words: str | None = Field(
        None, description="Its SLURM job in one line (job 12 · pending (Resources): why); None for a local run."
    )


class SlurmJob(Document):
    """The SLURM job a run is (backend slurm), as SLURM last said."""

    job_id: str | None = Field(None, description="Its current job (`squeue -j`); None before it is submitted.")
    jobs: list[str] = Field(default_factory=list, description="Every job the run has been, oldest first (resumes).")
    state: str | None = Field(
        None,
        description="SLURM's state when last asked (every few seconds while the run is active): PENDING, "
        "RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL…",
    )
    reason: str | None = Field(None, description="Why a pending job waits (Resources, Priority, a QOS limit).")
    nodes: str | None = Field(None, description="The nodes it runs (or ran) on, as a SLURM host list.")
    exit_code: str | None = Field(None, description='"status:signal", once it has ended.')
    restarts: int = Field(0, description="Times SLURM started it again (a requeue at its time limit).")
    script: str | None = Field(None, description="Its batch script, kept in the run's folder.")
    words: str | None = Field(None, description="All of that in one line, as the app shows it.")


def slurm_job(run: Run) -> SlurmJob | None:
    """The run's job, or None for a run trained on this machine."""
    if not run.on_slurm:
        return None
    from tuitune.runs.cluster import job_words

    state = run.slurm
    known = {key: state.get(key) for key in SlurmJob.model_fields if key in state and key != "words"}
    return SlurmJob(
        **{**known, "jobs": state.get("jobs") or [], "restarts": state.get("restarts") or 0}, words=job_words(run)
    )


class PartitionDocument(Document):
    """A SLURM partition as `sinfo` reports it."""

    name: str
    default: bool = Field(description="Where a job goes that names no partition.")
    available: bool = Field(description="Whether it is up.")
    time_limit: str = Field(description="Its longest job (SLURM's words: infinite, 2-00:00:00).")
    nodes: int
    states: dict[str, int] = Field(description="How many of its nodes are in each state (idle, mixed, allocated…).")
    gpus: int = Field(description="GPUs its nodes have (gres gpu).")
    free_gpus: int = Field(description="GPUs of its usable nodes that no job holds.")


class ClusterDocument(Document):
    """`tuitune cluster --json`: where runs train by default, and the SLURM cluster's partitions."""

    backend: str = Field(description="local or slurm: where a run trains when its config does not say.")
    partitions: list[PartitionDocument]
    slurm_error: str | None = Field(None, description="Why SLURM could not be asked (not a login node), if so.")


class RunDocument(Progress):
    """A run: its progress, and what it is (settings, where it trains, where its files are)."""

    name: str
    method: str
    model: str
    dataset: str
    output_dir: str | None
    pid: int | None
    host: str | None
    created_at: Moment
    heartbeat_at: Moment | None
    duration_seconds: float | None = Field(description="From start to finish, or to now while it runs.")
    train_loss: float | None = Field(description="The trainer's mean training loss, once it has finished.")
    cancel_requested: bool
    checkpoint: str | None
    version: str | None = Field(description="The tuitune version that trained it.")
    notes: str | None = Field(description="A person's note about the run (`tuitune note`).")
    tags: list[str] = Field(default_factory=list, description="A person's tags for the run (`tuitune tag`), in order.")
    requested_gpus: str | None = Field(
        validation_alias=AliasChoices("requested_gpus", "gpus"), description='The GPUs it asked for, "0,1".'
    )
    devices: str | None = Field(description="The GPUs it was given (its CUDA_VISIBLE_DEVICES).")
    sweep_id: int | None
    config: dict[str, Any] = Field(description="The run's configuration: the same schema as a config file.")
    slurm: SlurmJob | None = Field(None, description="The SLURM job it is (backend slurm); None for a local run.")
    lineage: dict[str, Any] = Field(
        default_factory=dict,
        description="Where it came from (`tuitune.runs.lineage`): data (each source's path, size, mtime, sha256 "
        "or Hub revision), model (weights hash or Hub revision), versions (python and the training stack), git "
        "(commit, dirty) of the folder it was started from, rerun_of; {} for a run from before they were recorded.",
    )

    @computed_field(description=OBJECTIVE_HELP)  # type: ignore[prop-decorator]
    @property
    def objective(self) -> str:
        return objective_of(self.config)


class RunLabels(Document):
    """A run's note and tags, as they are after a change."""

    id: int
    notes: str | None
    tags: list[str]


class ListedRun(RunDocument):
    """A run in a listing, with its place in the queue while it waits there."""

    queue_place: int | None = Field(description="1 for the next run to start; None unless it waits in the queue.")


class LossSummary(Document):
    """First, last and lowest training loss, last and best eval loss, how many points."""

    first_loss: float | None
    last_loss: float | None
    min_loss: float | None
    last_eval_loss: float | None
    best_eval_loss: float | None
    points: int = Field(description="How many metric points the run logged.")
    tokens_per_second: float | None
    latest: dict[str, float | None] = Field(
        default_factory=dict,
        description="The last logged value of every other metric the trainer logs (a metric point's `extra`: "
        "rewards/margins, rewards/accuracies, reward, …), from its last training point and its last evaluation.",
    )


class ArtifactEntry(Document):
    """Something the run produced: an adapter, a checkpoint, a merged model, an upload URL."""

    kind: str
    path: str = Field(description="A file or folder; for an upload, its URL.")
    meta: dict[str, Any]
    gone: bool = Field(description="Its file or folder is no longer on disk (a rotated checkpoint, say).")


class EvaluationEntry(Document):
    """One evaluation's scores (its samples are in the store, not in the report)."""

    label: str = Field(description=f"{BASE} (the model before fine-tuning) or {FINETUNED}.")
    metrics: dict[str, Any]
    samples: int = Field(description="How many samples were scored.")
    created_at: Moment


class EvaluationDetail(EvaluationEntry):
    """One evaluation with what it was run with and the samples it kept: the prompt, the
    reference and each model's answer (`GET /runs/{id}/evaluations`)."""

    id: int
    settings: dict[str, Any]
    kept: list[dict[str, Any]] = Field(
        description="The kept samples: prompt (and messages), reference, base and finetuned answers "
        "(with base_reward / finetuned_reward for a reward-scored run)."
    )

    @computed_field(description="Its metrics where lower is better (perplexity); every other is better higher.")  # type: ignore[prop-decorator]
    @property
    def lower_is_better(self) -> list[str]:
        return [name for name in self.metrics if name in LOWER_IS_BETTER]


def evaluation_detail(record: Evaluation) -> EvaluationDetail:
    return EvaluationDetail(
        id=record.id,
        label=record.label,
        metrics=record.metrics,
        samples=record.sample_count,
        created_at=record.created_at,
        settings=record.settings,
        kept=record.samples,
    )


class KeyCurveDocument(Document):
    """A metric that tells how the run's objective is doing (`tuitune.runs.KEY_CURVES`)."""

    key: str = Field(
        description="The trainer's name for it, in a metric point's `extra` (eval_ before it for an evaluation's)."
    )
    label: str = Field(description="In the user's words: reward margin, reward accuracy, mean reward, …")
    share: bool = Field(description="A fraction of pairs or groups, 0 to 1: shown as a percentage.")

    def show(self, value: float | None) -> str:
        """The value as the panels print it (`–` where none was logged)."""
        return "–" if value is None else KeyCurve(self.key, self.label, self.share).show(value)


class RunReport(RunDocument):
    """A run with its loss summary, artifacts and evaluations: `tuitune show --json`."""

    metrics: LossSummary
    artifacts: list[ArtifactEntry]
    evaluations: list[EvaluationEntry] = Field(description="Newest first.")

    @computed_field(description=KEY_CURVES_HELP)  # type: ignore[prop-decorator]
    @property
    def key_curves(self) -> list[KeyCurveDocument]:
        return [KeyCurveDocument.model_validate(curve) for curve in objective_curves(self.objective)]


def progress(run: Run) -> Progress:
    """How far `run` has got."""
    document = Progress.model_validate(run)
    document.slurm_words = _slurm_words(run)
    return document


def run_document(run: Run) -> RunDocument:
    """`run` as a document."""
    document = RunDocument.model_validate(run)
    document.slurm = slurm_job(run)  # the job as the faces word it, or None for a local run
    document.slurm_words = _slurm_words(run)
    return document


def _slurm_words(run: Run) -> str | None:
    if not run.on_slurm:
        return None
    from tuitune.runs.cluster import job_line

    return job_line(run)


def listed_run(run: Run, queue_place: int | None) -> ListedRun:
    """`run` in a listing; `queue_place` is its place in the queue, if it waits there."""
    return ListedRun.model_construct(**dict(run_document(run)), queue_place=queue_place)


def loss_summary(run: Run, store: Store) -> LossSummary:
    """The run row keeps the last and best losses as its points arrive; the store counts the rest."""
    first, lowest, points = store.loss_extremes(run.id)
    return LossSummary(
        first_loss=first,
        last_loss=run.last_loss,
        min_loss=lowest,
        last_eval_loss=run.last_eval_loss,
        best_eval_loss=run.best_eval_loss,
        points=points,
        tokens_per_second=run.tokens_per_second,
        latest=store.latest_extra(run.id),
    )


def run_report(run: Run, store: Store) -> RunReport:
    """The run, its loss summary, artifacts and evaluations."""
    return RunReport.model_construct(
        **dict(run_document(run)),
        metrics=loss_summary(run, store),
        artifacts=[artifact(record) for record in store.artifacts(run.id)],
        evaluations=[
            EvaluationEntry(label=e.label, metrics=e.metrics, samples=e.sample_count, created_at=e.created_at)
            for e in store.evaluations(run.id)
        ],
    )


# --- what a run logs -------------------------------------------------------------------------


class MetricPointDocument(Document):
    """One logging step of a run (the store's `MetricPoint`). Any measurement may be missing."""

    id: int
    run_id: int
    step: int
    epoch: float | None
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    grad_norm: float | None
    tokens_per_second: float | None
    gpu_memory_gb: float | None
    cpu_memory_gb: float | None
    time: Moment
    extra: dict[str, float | None] = Field(
        default_factory=dict,
        description="Every other metric the trainer logged at this step, under its own name: a preference "
        "run's rewards/margins, rewards/accuracies, rewards/chosen, logps/chosen, kl; GRPO's reward, "
        "reward_std, frac_reward_zero_std, completions/clipped_ratio; eval_ before those of an evaluation. "
        "None where the value was not a finite number.",
    )


class EventDocument(Document):
    """A line in a run's story: status changes, data, checkpoints, warnings, errors."""

    id: int
    run_id: int
    time: Moment
    level: str = Field(description="debug, info, warning or error.")
    message: str


def metric_point(point: MetricPoint) -> MetricPointDocument:
    return MetricPointDocument.model_validate(point)


def event(record: Event) -> EventDocument:
    return EventDocument.model_validate(record)


def artifact(record: Artifact) -> ArtifactEntry:
    return ArtifactEntry.model_validate(record)


# --- other faces' words for a run ------------------------------------------------------------


def final_train_loss(run: Run) -> float | None:
    """The trainer's mean training loss once it finished; the last logged loss until then."""
    return run.train_loss if run.train_loss is not None else run.last_loss


class RunOutcome(Document):
    """How a run that `tuitune train` or `resume` followed ended."""

    run_id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    output_dir: str | None
    train_loss: float | None
    eval_loss: float | None
    steps_completed: int
    steps_total: int | None
    elapsed_seconds: float
    error: str | None
    key_values: dict[str, float | None] = Field(
        default_factory=dict,
        description="The last logged value of each of its objective's key curves (none for sft), by key.",
    )


def run_outcome(run: Run, store: Store | None = None) -> RunOutcome:
    """How `run` ended; with `store`, its objective's last key values too."""
    curves = objective_curves(objective_of(run.config))
    latest = store.latest_extra(run.id) if curves and store is not None else {}
    return RunOutcome(
        run_id=run.id,
        name=run.name,
        status=run.status,
        output_dir=run.output_dir,
        train_loss=final_train_loss(run),
        eval_loss=run.last_eval_loss,
        steps_completed=run.steps_done or 0,
        steps_total=run.steps_total,
        elapsed_seconds=round(run.duration_seconds or 0.0, 3),
        error=run.error,
        key_values={curve.key: latest.get(curve.key) for curve in curves} if latest else {},
    )


class RunSummary(Document):
    """What one run achieved, as one column of a comparison."""

    run_id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    method: str
    objective: str = Field(description=OBJECTIVE_HELP)
    model: str
    dataset: str
    train_loss: float | None
    eval_loss: float | None
    best_eval_loss: float | None
    key_values: dict[str, float | None] = Field(
        default_factory=dict,
        description="The last logged value of each of its objective's key curves, by the trainer's name "
        "(rewards/margins, …); none for sft.",
    )
    steps: int
    duration_seconds: float | None
    tokens_per_second: float | None
    scores: dict[str, float] = Field(default_factory=dict, description="The latest fine-tuned evaluation.")
    base_scores: dict[str, float] = Field(default_factory=dict, description="The latest base evaluation.")


def _latest_scores(run_id: int, store: Store, label: str) -> dict[str, float]:
    for evaluation in store.evaluations(run_id):  # newest first
        if evaluation.label == label:
            return {k: v for k, v in evaluation.metrics.items() if isinstance(v, (int, float))}
    return {}


def run_summary(run: Run, store: Store) -> RunSummary:
    """One run's column: final and best losses, its objective's key values, steps, time, speed,
    latest scores."""
    objective = objective_of(run.config)
    curves = objective_curves(objective)
    latest = store.latest_extra(run.id) if curves else {}
    return RunSummary(
        run_id=run.id,
        name=run.name,
        status=run.status,
        method=run.method,
        objective=objective,
        model=run.model,
        dataset=run.dataset,
        train_loss=final_train_loss(run),
        eval_loss=run.last_eval_loss,
        best_eval_loss=run.best_eval_loss,
        key_values={curve.key: latest.get(curve.key) for curve in curves},
        steps=run.steps_done or 0,
        duration_seconds=run.duration_seconds,
        tokens_per_second=run.tokens_per_second,
        scores=_latest_scores(run.id, store, FINETUNED),
        base_scores=_latest_scores(run.id, store, BASE),
    )


class JobProgress(Document):
    step: int
    total_steps: int | None
    epoch: float | None
    percent: float | None = Field(description="0 to 100, one decimal; None while the total is unknown.")


class Job(Document):
    """A run in the job service's words (`/finetune`, `/jobs`): its field names, kept as they were."""

    job_id: int
    status: str = Field(description=STATUS_HELP)
    model_name: str
    dataset_name: str
    progress: JobProgress
    loss: float | None
    eval_loss: float | None
    output_dir: str | None
    error: str | None
    created_at: Moment
    started_at: Moment | None
    finished_at: Moment | None


def job(run: Run) -> Job:
    """`run` as a job."""
    return Job(
        job_id=run.id,
        status=run.status,
        model_name=run.model,
        dataset_name=run.dataset,
        progress=JobProgress(
            step=run.steps_done,
            total_steps=run.steps_total,
            epoch=run.epoch,
            percent=round(100 * run.progress, 1) if run.progress is not None else None,
        ),
        loss=run.last_loss,
        eval_loss=run.last_eval_loss,
        output_dir=run.output_dir,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


# --- what the service's routes answer --------------------------------------------------------


class RunUrls(Document):
    """Where the service serves a run."""

    self: str
    stream: str
    metrics: str
    events: str
    log: str
    page: str = Field(description="The run's page in the dashboard.")


class RunReportWithUrls(RunReport):
    """`GET /runs/{id}`: the run's report (as `tuitune show --json` prints it) and its addresses."""

    urls: RunUrls


class RunPage(Document):
    """`GET /runs`: a page of runs, newest first (or in the order asked for)."""

    total: int = Field(description="How many runs match, on every page.")
    offset: int
    limit: int
    runs: list[ListedRun]
    choices: dict[str, list[str]] = Field(
        default_factory=dict,
        description="What the filters can take: the models, methods and objectives of every stored run.",
    )


class RunStarted(Document):
    """A run just recorded: queued or starting."""

    id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    in_queue: bool
    urls: RunUrls


class RunRerun(RunStarted):
    """A past run's configuration recorded again as a new run (POST /runs/{id}/rerun)."""

    rerun_of: int = Field(description="The run whose configuration it trains with.")
    warnings: list[str] = Field(
        description="What has changed since that run was created, in words: its data, the training stack's "
        "versions, the git commit. Also in the new run's events."
    )


class CancelRequested(Document):
    id: int
    status: str = Field(description=STATUS_HELP)
    cancel_requested: bool


class RunDeleted(Document):
    id: int
    deleted: bool
    kept_files: list[str] = Field(description="What tuitune did not write in the run's folder, left there.")


class MetricPoints(Document):
    run_id: int
    points: list[MetricPointDocument]


class Events(Document):
    run_id: int
    events: list[EventDocument]


class Restart(Document):
    """A resume replaced the run's points after its checkpoint: forget those drawn, all of them follow."""

    id: int


class StreamMessage(Document):
    """One server-sent event of `GET /runs/{id}/stream`: its `data` is JSON."""

    event: str = Field(
        description="point (a metric point), event (a line of the run's story), status (the run's progress, "
        "whenever it changes), restart (a resume replaced the points) or end (its progress as it ended; the "
        "stream closes)."
    )
    id: str | None = Field(
        None,
        description='"POINT.EVENT.SEEN" (the last point and event ids, how many points the client holds): send '
        "it back as Last-Event-ID to go on after it (points and events only).",
    )
    data: MetricPointDocument | EventDocument | Progress | Restart


class JobAccepted(Job):
    message: str
    urls: RunUrls


class JobCancelled(Job):
    message: str


class JobLogLine(Document):
    """A line of `GET /logs/{id}`: an event, or (level `metrics`) a metric point's measurements
    that were logged, under the metric point's names (step, loss, learning_rate, …)."""

    model_config = ConfigDict(extra="allow")

    time: Moment
    level: str = Field(description="debug, info, warning, error, or metrics.")
    message: str | None = Field(None, description="An event's text (not on metrics lines).")


# --- the queue -------------------------------------------------------------------------------


class QueuedEntry(Document):
    """A run waiting in the queue, at its place in line."""

    position: int = Field(description="1 for the next run to start.")
    id: int
    name: str
    requested_gpus: str | None = Field(description='The GPUs it asked for, "0,1"; None: any free one.')
    sweep_id: int | None
    method: str
    model: str
    created_at: Moment


class QueueDocument(Document):
    """`tuitune queue --json` and `GET /queue`: the slots, whether the queue is paused, what trains
    and what waits, in order."""

    slots: int = Field(description="How many runs may train at once.")
    slots_in_use: int
    paused: bool = Field(description="Nothing new starts from the queue while it is paused.")
    running: list[int] = Field(description="The ids of the runs training now.")
    queued: list[QueuedEntry]


def queue_document(store: Store, *, slots: int, paused: bool) -> QueueDocument:
    """The queue as the store holds it (`slots` and `paused` are the queue's settings as read)."""
    return QueueDocument(
        slots=slots,
        slots_in_use=store.slots_in_use(),
        paused=paused,
        running=[run.id for run in store.list_runs(status=RUNNING)],
        queued=[
            QueuedEntry(
                position=place,
                id=run.id,
                name=run.name,
                requested_gpus=run.gpus,
                sweep_id=run.sweep_id,
                method=run.method,
                model=run.model,
                created_at=run.created_at,
            )
            for place, run in enumerate(store.queued_runs(), start=1)
        ],
    )


class QueueMove(Document):
    """`tuitune queue move --json`: the place a waiting run got."""

    id: int
    position: int = Field(description="1 for the next run to start.")


class QueuePause(Document):
    """`tuitune queue pause|unpause --json` and `POST /queue/pause`: the queue's state after the change."""

    paused: bool
    started: list[int] = Field(description="The runs that started as the queue was unpaused.")


# --- the CLI's answers to run actions --------------------------------------------------------


class RunCancelled(Document):
    """`tuitune cancel RUN --json`: the run as the cancel left it (`--wait`: as it stopped). The
    CLI's words (`run_id`), kept as they were; `POST /runs/{id}/cancel` answers `CancelRequested`."""

    run_id: int
    status: str = Field(description=STATUS_HELP)
    cancel_requested: bool


class CancelledRun(Document):
    run_id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    was_queued: bool = Field(description="It was waiting in the queue: it left the line, nothing had trained.")


class CancelledRuns(Document):
    """`tuitune cancel --sweep N --json` or `cancel --queued --json`: each run the cancel reached."""

    sweep_id: int | None = Field(description="None for `--queued` (every run waiting in the queue).")
    cancelled: list[CancelledRun]


class RunInBackground(Document):
    """`tuitune train --detach --json` or `resume --detach --json` (or either with `--queue`): the
    run training in the background, or waiting in the queue to."""

    run_id: int
    name: str
    status: str = Field(description=STATUS_HELP)
    pid: int | None = Field(description="Its worker's process; None while it waits in the queue.")
    output_dir: str | None = Field(description="The run's folder: its worker.log, checkpoints and weights.")
    in_queue: bool
    queue_place: int | None = Field(None, description="Its place in line while it waits (1: the next to start).")
    job_id: str | None = Field(
        None, description="Its SLURM job (backend slurm): SLURM's queue holds it, not tuitune's."
    )


def run_in_background(run: Run, place: tuple[int, int] | None = None) -> RunInBackground:
    """`run` as a command that started it in the background (or queued it, at `place`) answers."""
    return RunInBackground(
        run_id=run.id,
        name=run.name,
        status=run.status,
        pid=run.pid,
        output_dir=run.output_dir,
        in_queue=run.in_queue,
        queue_place=place[0] if place else None,
        job_id=run.slurm.get("job_id"),
    )


# --- what the service answers when it refuses ------------------------------------------------


class ErrorDocument(Document):
    """Every error answer of the service (4xx, 5xx): one line that says what to do, the kind of
    error and, where one field of the request is at fault, which."""

    detail: str = Field(description="One line: what went wrong and what to do about it.")
    error: str | None = Field(
        None,
        description="Its kind: the error's class (RunNotFoundError, InvalidConfigError, …), InvalidRequest, "
        "RequestRefused, TooLarge or InternalError; absent on the token and same-site checks' answers.",
    )
    field: str | None = Field(None, description="The request's field at fault, dotted (training.learning_rate).")
