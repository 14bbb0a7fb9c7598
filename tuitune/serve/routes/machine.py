"""`/queue`, `/system` and `/tasks`: what the box is doing. The queue through the run service
the CLI and the app use."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from tuitune.engine.queue import MAX_SLOTS
from tuitune.runs.documents import QueueDocument, QueueMove, QueuePause
from tuitune.serve.routes.refusals import STORE, WRITES, refusals
from tuitune.serve.tasks import Task
from tuitune.service.runs import RunService
from tuitune.store.transactions import SQLITE_MAX_INTEGER
from tuitune.system.gpu import gpus
from tuitune.system.memory import system_memory

router = APIRouter(tags=["machine"])


@router.get("/queue", summary="The queue: slots, pause, what waits in order", responses=refusals(*STORE))
def get_queue() -> QueueDocument:
    return RunService().queue_document()


class PauseRequest(BaseModel):
    paused: bool = Field(True, description="true: start nothing new; false: start queued runs again.")


@router.post(
    "/queue/pause",
    summary="Pause (or unpause) the queue; running runs go on",
    responses=refusals(413, 422, *WRITES),
)
def pause(body: PauseRequest = PauseRequest()) -> QueuePause:
    service = RunService()
    started = []
    if body.paused:
        service.pause_queue()
    else:
        started = [run.id for run in service.unpause_queue()]
    return QueuePause(paused=body.paused, started=started)


class MoveRequest(BaseModel):
    to: int = Field(
        ..., ge=1, le=SQLITE_MAX_INTEGER, description="The new place in line (1 starts next; past the end: last)."
    )


@router.post(
    "/queue/{run_id}/move",
    summary="Move a waiting run to another place in line",
    responses=refusals(404, 409, 413, 422, *WRITES),
)
def move(run_id: int, body: MoveRequest) -> QueueMove:
    return QueueMove(id=run_id, position=RunService().move_in_queue(run_id, body.to))


class SlotsRequest(BaseModel):
    # The limits the engine's queue declares (`tuitune queue --slots N|auto` is held to the same).
    count: int | None = Field(
        ..., ge=1, le=MAX_SLOTS, description=f"How many runs train at once, 1 to {MAX_SLOTS}; null: one per GPU."
    )


@router.post(
    "/queue/slots",
    summary="Set how many runs train at once; more slots may start waiting runs now",
    responses=refusals(413, 422, *WRITES),
)
def set_slots(body: SlotsRequest) -> QueueDocument:
    service = RunService()
    service.set_slots(body.count)
    return service.queue_document()


class Reading(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GpuState(Reading):
    index: int
    name: str
    memory_total_gb: float
    memory_used_gb: float
    utilization_percent: float | None = Field(description="None where the driver does not report it.")


class MemoryState(Reading):
    """The machine's RAM in GiB."""

    total_gb: float
    available_gb: float
    used_gb: float


class SystemState(BaseModel):
    gpus: list[GpuState]
    memory: MemoryState
    slots: int = Field(description="How many runs may train at once.")


@router.get("/system", summary="GPUs, memory and slots of the machine the server runs on", responses=refusals(*STORE))
def system() -> SystemState:
    return SystemState(
        gpus=[GpuState.model_validate(gpu) for gpu in gpus()],
        memory=MemoryState.model_validate(system_memory()),
        slots=RunService().slots(),
    )


@router.get("/tasks", summary="Background tasks (evaluate, merge, upload) this server started")
def tasks(request: Request) -> list[Task]:
    return request.app.state.tasks.all()


@router.get("/tasks/{task_id}", summary="One background task", responses=refusals(404, 422))
def task(request: Request, task_id: int) -> Task:
    found = request.app.state.tasks.get(task_id)
    if found is None:
        raise HTTPException(404, detail=f"No task {task_id} on this server (tasks are kept while it runs).")
    return found
