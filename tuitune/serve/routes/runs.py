"""`/runs`: start, list, watch, stop, resume, delete, evaluate, merge, export and upload runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sse_starlette.sse import EventSourceResponse

from tuitune.config import MAX_EPOCHS, MAX_STEPS, RunConfig
from tuitune.engine.rerun import rerun_config
from tuitune.errors import RunStateError, UsageError
from tuitune.export.choices import DEFAULT_QUANT, K_QUANTS, QUANTS, TARGETS
from tuitune.runs.documents import (
    CancelRequested,
    EvaluationDetail,
    Events,
    MetricPoints,
    RunDeleted,
    RunLabels,
    RunPage,
    RunReportWithUrls,
    RunRerun,
    RunStarted,
    RunUrls,
    StreamMessage,
    evaluation_detail,
    event,
    listed_run,
    metric_point,
    run_report,
)
from tuitune.runs.files import run_config
from tuitune.runs.labels import MAX_NOTE_CHARS, MAX_TAGS
from tuitune.runs.listing import RUN_SORTS, choices, filter_runs, sort_runs
from tuitune.serve.guard import RequestRefusedError, check_inside, check_stored_run, checked_config, policy_of
from tuitune.serve.responses import EVENT_STREAM, stream_of
from tuitune.serve.routes.refusals import STORE, WRITES, refusals
from tuitune.serve.tasks import Task
from tuitune.service.runs import RunService
from tuitune.store import ALL, Run
from tuitune.store.transactions import SQLITE_MAX_INTEGER

# Every route reads the store; each says what else it may refuse.
router = APIRouter(prefix="/runs", tags=["runs"], responses=refusals(*STORE))


def urls(run_id: int) -> RunUrls:
    base = f"/runs/{run_id}"
    return RunUrls(
        self=base,
        stream=f"{base}/stream",
        metrics=f"{base}/metrics",
        events=f"{base}/events",
        log=f"{base}/log",
        page=f"/#/runs/{run_id}",
    )


def created(run: Run) -> RunStarted:
    return RunStarted(id=run.id, name=run.name, status=run.status, in_queue=run.in_queue, urls=urls(run.id))


def runs() -> RunService:
    """Every route reads and acts on runs through the service the app and the CLI use."""
    return RunService()


def find(run_id: int) -> Run:
    return runs().current(run_id)


def start_run(request: Request, config_data: Any, *, in_queue: bool, source: str = "request") -> Run:
    """Validate a configuration as the CLI does, check its paths, then queue or start the run."""
    config = checked_config(request, config_data, source)
    return runs().enqueue(config) if in_queue else runs().launch(config)


@router.post(
    "", status_code=201, summary="Start a run (through the queue by default)", responses=refusals(413, 422, *WRITES)
)
def create_run(
    request: Request,
    config: dict[str, Any] = Body(..., description="A run configuration: the same schema as a config file."),
    queue_run: bool = Query(True, alias="queue", description="Wait in the queue for a free slot (false: start now)."),
) -> RunStarted:
    return created(start_run(request, config, in_queue=queue_run))


@router.get("", summary="List runs, newest first (or sorted by a column)", responses=refusals(422))
def list_runs(
    request: Request,
    status: Optional[str] = Query(None, description=f"One of {', '.join(ALL)}."),
    sweep: Optional[int] = Query(None, ge=0, le=SQLITE_MAX_INTEGER, description="Only the runs of this sweep."),
    text: Optional[str] = Query(
        None,
        max_length=200,
        description="Words that must all appear in the name, model, method, dataset, tags (tag:NAME) or note.",
    ),
    model: Optional[str] = Query(None, max_length=1000, description="Only the runs of this model (as stored)."),
    method: Optional[str] = Query(None, max_length=40, description="Only the runs of this method (lora, qlora, full)."),
    objective: Optional[str] = Query(None, max_length=40, description="Only the runs of this objective (sft, dpo, …)."),
    sort: Optional[str] = Query(
        None, description=f"A column to sort by: {', '.join(RUN_SORTS)} (default: newest first)."
    ),
    order: Literal["asc", "desc"] = Query("asc", description="The sort's direction; runs without a value go last."),
    limit: int = Query(50, ge=1, description="Page size."),
    offset: int = Query(0, ge=0, le=10**9),
) -> RunPage:
    if status is not None and status not in ALL:
        raise UsageError(f"Unknown status {status[:40]!r}: use one of {', '.join(ALL)}.")
    if sort is not None and sort not in RUN_SORTS:
        raise UsageError(f"Unknown sort {sort[:40]!r}: use one of {', '.join(RUN_SORTS)}.")
    limit = min(limit, request.app.state.settings.max_page)
    service = runs()
    service.reconcile()
    everything = service.list_runs(status=status, sweep_id=sweep)
    found = filter_runs(everything, text=text, model=model, method=method, objective=objective)
    if sort is not None:
        found = sort_runs(found, sort, descending=order == "desc")
    page = found[offset : offset + limit]
    places = service.queue_places() if any(run.in_queue for run in page) else {}
    # The filters' choices come from every stored run, not just those this filter keeps.
    every = everything if status is None and sweep is None else service.list_runs()
    return RunPage(
        total=len(found),
        offset=offset,
        limit=limit,
        runs=[listed_run(run, places[run.id][0] if run.id in places else None) for run in page],
        choices=choices(every),
    )


@router.get(
    "/{run_id}", summary="One run: status, progress, losses, artifacts, evaluations", responses=refusals(404, 422)
)
def get_run(run_id: int) -> RunReportWithUrls:
    service = runs()
    run = service.current(run_id)
    return RunReportWithUrls.model_construct(**dict(run_report(run, service.store)), urls=urls(run.id))


@router.get(
    "/{run_id}/config",
    summary="The run's configuration: what it trains (a new run's form starts from it)",
    responses=refusals(404, 422),
)
def get_config(run_id: int) -> RunConfig:
    return run_config(find(run_id))


@router.get(
    "/{run_id}/evaluations",
    summary="The run's evaluations, newest first, with their settings and kept samples (base and fine-tuned answers)",
    responses=refusals(404, 422),
)
def evaluations(run_id: int) -> list[EvaluationDetail]:
    service = runs()
    return [evaluation_detail(record) for record in service.evaluations(find(run_id).id)]


@router.get("/{run_id}/metrics", summary="A run's metric points", responses=refusals(404, 422))
def metrics(
    run_id: int,
    after: int = Query(-1, ge=-1, le=MAX_STEPS, description="Only points after this step."),
    after_id: int = Query(
        0, ge=0, le=SQLITE_MAX_INTEGER, description="Only points with an id above this one (for polling)."
    ),
) -> MetricPoints:
    service = runs()
    service.get_run(run_id)
    points = [metric_point(point) for point in service.metric_points(run_id, after_id=after_id) if point.step > after]
    return MetricPoints(run_id=run_id, points=points)


@router.get(
    "/{run_id}/events",
    summary="A run's events: loading, data, checkpoints, warnings, errors",
    responses=refusals(404, 422),
)
def events(
    run_id: int,
    after: int = Query(0, ge=0, le=SQLITE_MAX_INTEGER, description="Only events with an id above this one."),
) -> Events:
    service = runs()
    service.get_run(run_id)
    return Events(run_id=run_id, events=[event(record) for record in service.events(run_id, after_id=after)])


@router.get(
    "/{run_id}/log",
    response_class=PlainTextResponse,
    summary="The run's worker.log",
    responses=refusals(404, 422),
)
def log(run_id: int, tail: Optional[int] = Query(None, ge=0, le=100_000, description="Only the last N lines.")) -> str:
    service = runs()
    path = service.log_path(service.current(run_id))
    if not path.exists():
        return ""
    if tail is None:
        return path.read_text(encoding="utf-8", errors="replace")
    return "".join(_last_lines(path, tail))


def _last_lines(path: Path, count: int, block: int = 64 * 1024) -> list[str]:
    """The last `count` lines of a file, read from its end (a long log is not read whole)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        end = position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            position = max(0, position - block)
            handle.seek(position)
            data = handle.read(end - position)
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if position > 0:
        lines = lines[1:]  # the first line read may be cut
    return lines[len(lines) - min(count, len(lines)) :]


@router.get(
    "/{run_id}/stream",
    summary="Server-sent events: metric points, events and status, live",
    response_class=EventSourceResponse,
    response_model=StreamMessage,  # one event's
    responses={
        **stream_of(
            StreamMessage,
            EVENT_STREAM,
            "Server-sent events: the run's history first, then what it logs, until it ends (the `end` event).",
        ),
        **refusals(404, 422),
    },
)
async def stream(request: Request, run_id: int) -> EventSourceResponse:
    runs().get_run(run_id)  # 404 before the stream opens
    after_point, after_event, points_seen = _resume_from(request.headers.get("last-event-id"))
    hub = request.app.state.hub

    async def messages():
        async for message in hub.watch(
            run_id, after_point=after_point, after_event=after_event, points_seen=points_seen
        ):
            yield message.to_sse()

    return EventSourceResponse(messages(), ping=15)


def _resume_from(last_event_id: str | None) -> tuple[int, int, int | None]:
    """A reconnecting client sends the last id it saw, "POINT.EVENT.SEEN" (SEEN: how many points it
    holds, so a resume that replaced some meanwhile is noticed; "POINT.EVENT" is still accepted)."""
    parts = (last_event_id or "").split(".")
    if len(parts) not in (2, 3) or not all(part.isascii() and part.isdecimal() for part in parts):
        return 0, 0, None
    # No id has more digits than SQLite's largest integer (and int() refuses 4,300 digits).
    digits = len(str(SQLITE_MAX_INTEGER))
    numbers = [SQLITE_MAX_INTEGER if len(part) > digits else min(int(part), SQLITE_MAX_INTEGER) for part in parts]
    return numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None


@router.post(
    "/{run_id}/cancel",
    summary="Cancel: a waiting run leaves the queue; a training one finishes its step, saves a checkpoint and stops",
    responses=refusals(404, 409, 422, *WRITES),
)
def cancel(run_id: int) -> CancelRequested:
    run = runs().cancel(find(run_id).id)
    return CancelRequested(id=run.id, status=run.status, cancel_requested=True)


class LabelsRequest(BaseModel):
    """What to change of a run's note and tags; a field left out stays as it is."""

    notes: Optional[str] = Field(
        None, max_length=MAX_NOTE_CHARS, description="The run's note (null or blank: take it away)."
    )
    tags: Optional[list[str]] = Field(None, max_length=MAX_TAGS, description="Replace the run's tags with these.")
    add_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, description="Tags to add.")
    remove_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, description="Tags to take away.")


@router.patch(
    "/{run_id}",
    summary="Change a run's note and tags (any run, whatever its status)",
    responses=refusals(404, 413, 422, *WRITES),
)
def label(run_id: int, change: LabelsRequest) -> RunLabels:
    run = runs().label(
        find(run_id).id,
        notes=change.notes if "notes" in change.model_fields_set else ...,
        tags=change.tags,
        add=change.add_tags,
        remove=change.remove_tags,
    )
    return RunLabels(id=run.id, notes=run.notes, tags=run.tags)


class ResumeRequest(BaseModel):
    epochs: Optional[float] = Field(None, gt=0, le=MAX_EPOCHS, description="Train to this many epochs in all.")
    max_steps: Optional[int] = Field(None, ge=1, le=MAX_STEPS, description="Train to this many steps in all.")
    queue: bool = Field(False, description="Wait in the queue for a free slot.")


@router.post(
    "/{run_id}/resume",
    summary="Resume from the last checkpoint (or train a finished run further)",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def resume_run(request: Request, run_id: int, body: ResumeRequest = Body(default_factory=ResumeRequest)) -> RunStarted:
    if body.epochs is not None and body.max_steps is not None:
        raise UsageError("Give epochs or max_steps, not both.")
    stored = find(run_id)
    check_stored_run(run_config(stored), policy_of(request), run_id=stored.id, action="resume")
    run = runs().resume(stored.id, epochs=body.epochs, max_steps=body.max_steps, queue=body.queue)
    return created(run)


class RerunRequest(BaseModel):
    queue: bool = Field(True, description="Wait in the queue for a free slot (false: start now).")


@router.post(
    "/{run_id}/rerun",
    status_code=201,
    summary="Train a run's configuration again, as a new run (through the queue by default)",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def rerun_run(request: Request, run_id: int, body: RerunRequest = Body(default_factory=RerunRequest)) -> RunRerun:
    stored = find(run_id)
    # What POST /runs refuses, a rerun refuses too: the stored configuration may name a place or
    # run code this server does not allow.
    checked_config(request, rerun_config(stored).to_dict(), f"run {stored.id}'s configuration")
    result = runs().rerun(stored.id, now=not body.queue)
    return RunRerun(**dict(created(result.run)), rerun_of=stored.id, warnings=result.warnings)


@router.delete(
    "/{run_id}", summary="Delete a run (refused while it is active)", responses=refusals(404, 409, 422, *WRITES)
)
def delete(
    run_id: int, files: bool = Query(False, description="Also delete what tuitune wrote in its folder.")
) -> RunDeleted:
    removal = runs().delete(find(run_id).id, files=files)
    return RunDeleted(id=run_id, deleted=True, kept_files=removal.kept if removal else [])


class EvaluateRequest(BaseModel):
    samples: Optional[int] = Field(None, ge=1, le=100_000)
    compare_base: bool = Field(True, description="Also score the base model, for the before/after comparison.")


@router.post(
    "/{run_id}/evaluate",
    status_code=202,
    summary="Evaluate in the background (a task)",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def evaluate(request: Request, run_id: int, body: EvaluateRequest = Body(default_factory=EvaluateRequest)) -> Task:
    run = _finished(run_id)
    check_stored_run(run_config(run), policy_of(request), run_id=run.id, action="evaluate")
    argv = (
        ["eval", str(run.id)]
        + (["--samples", str(body.samples)] if body.samples else [])
        + (["--compare-base"] if body.compare_base else [])
    )
    return request.app.state.tasks.start("evaluation", run.id, argv)


class MergeRequest(BaseModel):
    output: Optional[str] = Field(
        None, max_length=4096, description="Folder for the merged model (default: the run's merged/)."
    )


@router.post(
    "/{run_id}/merge",
    status_code=202,
    summary="Merge the adapter into its base in the background",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def merge(request: Request, run_id: int, body: MergeRequest = Body(default_factory=MergeRequest)) -> Task:
    run = _finished(run_id)
    check_stored_run(run_config(run), policy_of(request), run_id=run.id, action="merge")
    output = body.output or str(Path(run.output_dir or ".") / "merged")
    check_inside(
        output,
        request.app.state.settings.roots() + ((Path(run.output_dir).resolve(),) if run.output_dir else ()),
        "The merge output",
        always_local=True,
    )
    return request.app.state.tasks.start("merge", run.id, ["merge", str(run.id), output])


class ExportRequest(BaseModel):
    to: str = Field(..., max_length=16, description=f"One of {', '.join(TARGETS)}.")
    quant: str = Field(
        DEFAULT_QUANT, max_length=16, description=f"The GGUF's weights: one of {', '.join(QUANTS + K_QUANTS)}."
    )
    merge: bool = Field(False, description="vllm: serve the merged model instead of base + adapter.")

    @field_validator("to", "quant")
    @classmethod
    def _one_of_the_choices(cls, value: str, info: ValidationInfo) -> str:
        choices = TARGETS if info.field_name == "to" else QUANTS + K_QUANTS
        if value not in choices:
            raise ValueError(f"use one of {', '.join(choices)}")
        return value


@router.post(
    "/{run_id}/export",
    status_code=202,
    summary="Export for serving in the background: a GGUF checked by a round trip, a Modelfile, a vLLM script",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def export(request: Request, run_id: int, body: ExportRequest) -> Task:
    run = _finished(run_id)
    check_stored_run(run_config(run), policy_of(request), run_id=run.id, action="export")
    argv = ["export", str(run.id), "--to", body.to, "--quant", body.quant] + (["--merge"] if body.merge else [])
    return request.app.state.tasks.start("export", run.id, argv)


class UploadRequest(BaseModel):
    repo_id: str = Field(..., max_length=200)
    private: bool = True
    gguf: bool = Field(False, description="Upload the run's exported GGUF and its Modelfile (export it first).")
    token: Optional[str] = Field(None, max_length=400, description="A Hugging Face token, used once, never stored.")


@router.post(
    "/{run_id}/upload",
    status_code=202,
    summary="Upload to the Hugging Face Hub in the background",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def upload(request: Request, run_id: int, body: UploadRequest) -> Task:
    if not policy_of(request).hub_allowed(body.repo_id):
        raise RequestRefusedError(
            f"Uploading to the Hugging Face Hub ({body.repo_id[:80]}) is off on this server: start it with "
            "--allow-hub (or --hub-id for this repository)."
        )
    run = _finished(run_id)
    argv = (
        ["upload", str(run.id), body.repo_id]
        + (["--private"] if body.private else [])
        + (["--gguf"] if body.gguf else [])
    )
    secrets = {"HF_TOKEN": body.token} if body.token else None
    return request.app.state.tasks.start("upload", run.id, argv, secrets)


def _finished(run_id: int) -> Run:
    run = find(run_id)
    if run.is_active:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}: wait for it to finish.")
    return run
