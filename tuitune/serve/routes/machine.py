"""`/queue`, `/system` and `/tasks`: what the box is doing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from tuitune.engine import queue
from tuitune.system.gpu import gpus
from tuitune.system.memory import system_memory

router = APIRouter(tags=["machine"])


@router.get("/queue", summary="The queue: slots, pause, what waits in order")
def get_queue() -> queue.QueueState:
    return queue.state()


class PauseRequest(BaseModel):
    paused: bool = Field(True, description="true: start nothing new; false: start queued runs again.")


@router.post("/queue/pause", summary="Pause (or unpause) the queue; running runs go on")
def pause(body: PauseRequest = PauseRequest()) -> dict[str, Any]:
    started = []
    if body.paused:
        queue.pause()
    else:
        started = [run.id for run in queue.unpause()]
    return {"paused": body.paused, "started": started}


@router.get("/system", summary="GPUs, memory and slots of the machine the server runs on")
def system() -> dict[str, Any]:
    memory = system_memory()
    return {
        "gpus": [
            {
                "index": gpu.index,
                "name": gpu.name,
                "memory_total_gb": gpu.memory_total_gb,
                "memory_used_gb": gpu.memory_used_gb,
                "utilization_percent": gpu.utilization_percent,
            }
            for gpu in gpus()
        ],
        "memory": {"total_gb": memory.total_gb, "available_gb": memory.available_gb, "used_gb": memory.used_gb},
        "slots": queue.slots(),
    }


@router.get("/tasks", summary="Background tasks (evaluate, merge, upload) this server started")
def tasks(request: Request) -> list[dict[str, Any]]:
    return [task.to_dict() for task in request.app.state.tasks.all()]


@router.get("/tasks/{task_id}", summary="One background task")
def task(request: Request, task_id: int) -> dict[str, Any]:
    found = request.app.state.tasks.get(task_id)
    if found is None:
        raise HTTPException(404, detail=f"No task {task_id} on this server (tasks are kept while it runs).")
    return found.to_dict()
