"""The run queue, with no daemon: whoever notices a free slot starts the next queued run.

A worker does it as its run ends, and so does every command that checks for crashed runs
(`tuitune runs`, the app's poller, …): `start_queued()` is cheap, safe to call from any number of
processes at once (claiming is one store transaction), and a no-op when nothing fits. Slots
default to one per visible GPU (one on a CPU-only machine); a run is given the GPUs it asked for
(`--gpus 0,1`), else one free GPU, and no two runs are ever given the same GPU.
"""

from __future__ import annotations

from typing import Any

from tuitune.config import RunConfig
from tuitune.engine import launcher, slurm
from tuitune.engine.keeper_lock import ensure_keeper
from tuitune.errors import RunStateError, StoreError, UsageError
from tuitune.runs import lookup, notify
from tuitune.store import CRASHED, FAILED, QUEUED, Run, Store, open_store
from tuitune.store.run_queue import PAUSED, SLOTS
from tuitune.system.gpu import check_gpus, visible_gpus

MAX_SLOTS = 64


def default_slots() -> int:
    """One slot per visible GPU, one on a machine without."""
    return max(1, len(visible_gpus()))


def slots(store: Store | None = None) -> int:
    """How many runs may train at once (`tuitune queue --slots N`, else the default)."""
    store = store or open_store()
    value = store.setting(SLOTS)
    return int(value) if value and value.isdigit() else default_slots()


def set_slots(count: int | None, store: Store | None = None) -> list[Run]:
    """Set the number of slots (None: back to the default); more slots may start runs at once."""
    if count is not None and not 1 <= count <= MAX_SLOTS:
        raise UsageError(f"--slots must be between 1 and {MAX_SLOTS} (got {count}).")
    store = store or open_store()
    store.set_setting(SLOTS, None if count is None else str(count))
    return start_queued(store)


def is_paused(store: Store | None = None) -> bool:
    return (store or open_store()).setting(PAUSED) == "1"


def pause(store: Store | None = None) -> None:
    """Start nothing new; running runs go on."""
    (store or open_store()).set_setting(PAUSED, "1")


def unpause(store: Store | None = None) -> list[Run]:
    store = store or open_store()
    store.set_setting(PAUSED, None)
    return start_queued(store)


def enqueue(
    config: RunConfig,
    *,
    gpus: list[str] | None = None,
    sweep_id: int | None = None,
    store: Store | None = None,
    lineage: dict[str, Any] | None = None,
) -> Run:
    """Add a run to the end of the queue; it starts at once if a slot is free. `lineage`: keys
    added to what the run's lineage records (a rerun's `rerun_of`)."""
    store = store or open_store()
    run = launcher.create_run(
        config, store=store, in_queue=True, gpus=check_gpus(gpus), sweep_id=sweep_id, lineage=lineage
    )
    if run.on_slurm:
        return slurm.submit(run, store=store)  # SLURM's queue, not tuitune's slots
    start_queued(store)
    return store.get_run(run.id)


def start_queued(store: Store | None = None) -> list[Run]:
    """Start queued runs, first in line first, while slots and GPUs are free. Returns those started."""
    store = store or open_store()
    # Before claiming: if this process dies between a claim and its worker, the keeper puts the
    # run back in line; and while runs wait, it notices a worker's death within seconds.
    ensure_keeper(store.keeper_needed())
    gpus = visible_gpus()
    capacity = slots(store)
    started: list[Run] = []
    while True:
        claim = store.claim_next(slots=capacity, gpus=gpus)
        if claim is None:
            return started
        try:
            launcher.start_worker(
                claim.run, resume=claim.run.started_at is not None, devices=claim.devices, store=store
            )
        except Exception as error:
            store.set_status(claim.run.id, FAILED, error=f"Could not start its worker: {error}")
            notify.run_ended(claim.run.id, store)
            continue
        started.append(store.get_run(claim.run.id))


def start_queued_quietly(store: Store | None = None) -> list[Run]:
    """`start_queued` for places where the queue is a side job (reading commands, a worker's exit)."""
    try:
        return start_queued(store)
    except StoreError:
        return []


def reconcile(store: Store | None = None) -> list[Run]:
    """Check every active run; returns those now marked crashed."""
    store = store or open_store()
    crashed = []
    for run in store.active_runs():
        checked = lookup.check_alive(run, store=store)
        if checked.status == CRASHED:
            crashed.append(checked)
    # Whoever notices a free slot starts the next queued run: a crash frees one, and so does a
    # run that ended while nobody was looking.
    start_queued_quietly(store)
    return crashed


def position(run: Run, store: Store | None = None) -> tuple[int, int] | None:
    """(place, line length) of a run waiting in the queue; None when it is not waiting."""
    if not run.in_queue:
        return None
    line = (store or open_store()).queued_runs()
    ids = [queued.id for queued in line]
    return (ids.index(run.id) + 1, len(ids)) if run.id in ids else None


def move(run: Run, to: int, store: Store | None = None) -> int:
    if run.status != QUEUED:
        raise RunStateError(f"Run {run.id} ({run.name}) is {run.status}: only a waiting run can be moved in the queue.")
    return (store or open_store()).move_in_queue(run.id, to)
