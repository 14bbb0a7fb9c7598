"""A run trained by several processes: the worker becomes the supervisor of its group.

It writes an accelerate config into the run's folder (`accelerate_config.yaml`, so the group can
be rerun by hand), starts `accelerate launch` (torchrun underneath: DDP, FSDP or DeepSpeed) in a
process group of its own, and watches the ranks' heartbeats. Rank 0 writes metrics, events and
artifacts; every rank heartbeats. When any rank dies or stops beating, the whole group is stopped
at once (no orphan process is left) and the run records which rank and why. Light: no torch.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tuitune.config import RunConfig
from tuitune.engine.rank import SUPERVISOR_ENV
from tuitune.engine.stop import StopRequest
from tuitune.runs import folder as run_folder
from tuitune.runs.files import LOG_NAME, run_config
from tuitune.runs.lookup import pid_alive
from tuitune.store import ACTIVE, CANCELLED, COMPLETED, CRASHED, FAILED, QUEUED, RUNNING, Store
from tuitune.store.processes import RunProcess
from tuitune.system import child, paths

ACCELERATE_CONFIG = "accelerate_config.yaml"
DEFAULT_MULTI_NODE_PORT = 29500
WATCH_SECONDS = 0.5
# A rank whose heartbeat is older than this is stuck (a frozen process, a hung collective).
RANK_STALE_SECONDS = 90.0
# How long a rank may take to start (imports, loading the model) before its silence counts.
RANK_START_SECONDS = 300.0


def visible_devices() -> list[str]:
    """The GPUs this worker was given (its CUDA_VISIBLE_DEVICES)."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [part for part in value.split(",") if part and not part.startswith("-")]


def processes_here(config: RunConfig, devices: list[str]) -> int:
    """Processes on this machine: as asked, else one per GPU given to the run, else one."""
    return config.distributed.nproc or max(1, len(devices))


def world_size(config: RunConfig, devices: list[str]) -> int:
    return processes_here(config, devices) * config.distributed.nnodes


def strategy(config: RunConfig) -> str:
    return "ddp" if config.distributed.strategy == "auto" else config.distributed.strategy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accelerate_config(config: RunConfig, devices: list[str], port: int) -> dict[str, Any]:
    """The accelerate config of the group (what `accelerate config` would have written)."""
    settings = config.distributed
    chosen = strategy(config)
    document: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(chosen, "DEEPSPEED"),
        # accelerate counts processes across every machine of the job.
        "num_processes": world_size(config, devices),
        "num_machines": settings.nnodes,
        "machine_rank": settings.node_rank,
        "main_process_ip": settings.master_addr,
        "main_process_port": port,
        "rdzv_backend": "static",
        "same_network": True,
        # The Trainer chooses precision from the run's config; the launcher must not add its own.
        "mixed_precision": "no",
        "gpu_ids": "all",
        "use_cpu": False,
    }
    if chosen == "fsdp":
        document["fsdp_config"] = {
            "fsdp_version": 2,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_reshard_after_forward": True,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_offload_params": False,
        }
    elif chosen.startswith("deepspeed"):
        document["deepspeed_config"] = {
            "zero_stage": 3 if chosen.endswith("3") else 2,
            "gradient_accumulation_steps": config.training.gradient_accumulation_steps,
            "gradient_clipping": config.training.max_grad_norm,
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "zero3_init_flag": chosen.endswith("3"),
            "zero3_save_16bit_model": chosen.endswith("3"),
        }
    return document


def machine_config_name(config: RunConfig) -> str:
    """This machine's accelerate config in the run's folder: machine 0's is the usual name, the
    others' their own, so machines that share the folder (one file system) never read each other's."""
    rank = config.distributed.node_rank
    return ACCELERATE_CONFIG if rank == 0 else f"accelerate_config-machine{rank}.yaml"


def launch_command(config_file: Path, run_id: int, *, resume: bool) -> list[str]:
    """`accelerate launch` of `tuitune.engine.rank` for this run (the current folder off the path)."""
    command = child.python_command(
        "accelerate.commands.launch",
        "--config_file",
        str(config_file),
        "--monitor_interval",
        "1",
        "--max_restarts",
        "0",
        "-m",
        "tuitune.engine.rank",
        str(run_id),
    )
    return [*command, "--resume"] if resume else command


def _previous_processes(config_file: Path) -> int | None:
    try:
        return int(yaml.safe_load(config_file.read_text())["num_processes"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _note(store: Store, run_id: int, message: str, level: str = "info") -> None:
    print(f"[{level}] {message}", flush=True)
    with contextlib.suppress(Exception):
        store.add_event(run_id, message, level=level)


def run_group(run_id: int, store: Store, *, resume: bool, stop: StopRequest) -> str:
    """Train run `run_id` with its group of processes; returns the status it ended with."""
    run = store.get_run(run_id)
    if run.status == CANCELLED:
        return CANCELLED
    config = run_config(run)
    output = Path(run.output_dir or ".")
    devices = visible_devices()
    store.update_run(run_id, pid=os.getpid(), host=socket.gethostname())
    store.set_status(run_id, RUNNING)
    store.clear_processes(run_id)
    config_file = output / machine_config_name(config)
    world = world_size(config, devices)
    before = _previous_processes(config_file) if resume else None
    if before is not None and before != world:
        if strategy(config) != "ddp":
            message = (
                f"Run {run_id} was checkpointed by {before} processes with {strategy(config)}, whose sharded "
                f"checkpoint needs {before} again: resume it with --nproc {before} (or as many GPUs)."
            )
            store.set_status(run_id, FAILED, error=message)
            print(f"[error] {message}", flush=True)
            return FAILED
        _note(
            store,
            run_id,
            f"resuming a {before}-process checkpoint with {world} processes: DDP allows it; the data order changes",
            "warning",
        )
    port = config.distributed.master_port or (
        _free_port() if config.distributed.nnodes == 1 else DEFAULT_MULTI_NODE_PORT
    )

    paths.write_private_text(config_file, yaml.safe_dump(accelerate_config(config, devices, port), sort_keys=False))
    run_folder.record(output, config_file.name)
    command = launch_command(config_file, run_id, resume=resume)
    where = (
        f"{config.distributed.nnodes} machines (this is machine {config.distributed.node_rank})"
        if config.distributed.nnodes > 1
        else "this machine"
    )
    _note(
        store,
        run_id,
        f"starting {world} processes on {where} with {strategy(config)}; rerun by hand: accelerate launch --config_file {config_file} -m tuitune.engine.rank {run_id}",
    )
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        cwd=output,
        env=child.child_environment({SUPERVISOR_ENV: str(os.getpid())}),  # every rank follows this process out
        start_new_session=True,  # the group is one process group: stopped as one
    )
    try:
        failure = _watch(process, run_id, store, stop, local_ranks=processes_here(config, devices))
    finally:
        _stop_group(process, store, run_id)
    return _outcome(run_id, store, process.returncode, failure, output)


def _watch(
    process: subprocess.Popen[bytes], run_id: int, store: Store, stop: StopRequest, *, local_ranks: int
) -> str | None:
    """Wait for the group to end; a message naming the rank when one died or went silent."""
    started = time.monotonic()
    host = socket.gethostname()
    asked_to_stop = False
    while process.poll() is None:
        if stop.is_set() and not asked_to_stop:
            # Every rank polls the store's flag and they agree on the step to stop at.
            asked_to_stop = True
            with contextlib.suppress(Exception):
                if not store.cancel_requested(run_id):
                    store.request_cancel(run_id)
        with contextlib.suppress(Exception):
            store.heartbeat(run_id)
        try:
            ranks = store.processes(run_id)
        except Exception:
            ranks = []
        dead = _killed_rank(ranks, host)
        if dead and process.poll() is None:
            return dead
        for rank in ranks:
            silent = (datetime.now(timezone.utc) - rank.heartbeat_at).total_seconds()
            if silent > RANK_STALE_SECONDS:
                return f"rank {rank.rank} on {rank.host} stopped heartbeating {silent:.0f} s ago (frozen, or stuck waiting for the others)"
        seen = {rank.rank for rank in ranks if rank.host == host}
        if time.monotonic() - started > RANK_START_SECONDS and len(seen) < local_ranks:
            return f"only {len(seen)} of {local_ranks} processes started within {RANK_START_SECONDS:.0f} s"
        time.sleep(WATCH_SECONDS)
    if process.returncode:
        # The group ended before a look caught the death: the rank gone without a word did it.
        with contextlib.suppress(Exception):
            return _killed_rank(store.processes(run_id), host)
    return None


def _killed_rank(ranks: list[RunProcess], host: str) -> str | None:
    """The rank of this machine that is gone without saying how it left: it was killed (a rank
    that completed, or failed in words after losing its peers, says so before it exits)."""
    for rank in ranks:
        if rank.host == host and rank.ended is None and not pid_alive(rank.pid):
            return f"rank {rank.rank} (pid {rank.pid}) died"
    return None


def _stop_group(process: subprocess.Popen[bytes], store: Store, run_id: int) -> None:
    """Nothing of the group outlives it: the launcher, torchrun and every local rank."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        for rank in store.processes(run_id):
            if rank.host == socket.gethostname() and pid_alive(rank.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(rank.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=10)


# torchrun's summary of a failed group: "rank : 1 (local_rank: 1) … exitcode : -9 (pid: 123)".
_FAILED_RANK = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def _outcome(run_id: int, store: Store, returncode: int | None, failure: str | None, output: Path) -> str:
    run = store.get_run(run_id)
    if failure is None and run.status in (COMPLETED, CANCELLED) and returncode == 0:
        return run.status
    if run.status == QUEUED:
        # Resumed (or queued again) by someone else since rank 0 recorded its end: no longer ours.
        return QUEUED
    if failure is None:
        failure = _failure_from_log(output / LOG_NAME) or f"the process group exited with code {returncode}"
    crashed = "died" in failure or "stopped heartbeating" in failure or "signal" in failure
    if run.status == COMPLETED:
        return COMPLETED
    if run.status in ACTIVE or crashed or not run.error:
        status = CRASHED if crashed else FAILED
        earlier = f" (rank 0 reported: {run.error})" if run.error and run.status == FAILED and crashed else ""
        store.set_status(
            run_id,
            status,
            error=f"The group stopped: {failure}{earlier}. See {LOG_NAME}, then `tuitune resume {run_id}`.",
        )
        print(f"[error] the group stopped: {failure}", flush=True)
    return store.get_run(run_id).status


def _failure_from_log(log: Path) -> str | None:
    try:
        tail = log.read_text(encoding="utf-8", errors="replace")[-20_000:]
    except OSError:
        return None
    found = _FAILED_RANK.findall(tail)
    if not found:
        return None
    rank, code = found[0]
    number = int(code)
    if number < 0:
        with contextlib.suppress(ValueError):
            return f"rank {rank} died (signal {signal.Signals(-number).name})"
        return f"rank {rank} died (signal {-number})"
    return f"rank {rank} failed (exit code {number})"
