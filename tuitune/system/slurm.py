"""SLURM's own tools, asked and read: `sbatch --parsable`, `scontrol show job`, `scancel`,
`scontrol requeue`, `sinfo`. Light (the standard library): the faces ask for job states.

Every failure is a `SlurmError` naming the tool and what it said; a job SLURM no longer knows is
`None`, which the caller words (lost, or ended long ago).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tuitune.errors import SlurmError
from tuitune.text.user_text import shorten

# Long enough for a loaded controller; a face asks at most every few seconds per run.
TIMEOUT_SECONDS = 30.0

# SLURM's job states (squeue's long names) and what they mean for a run.
WAITING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"})
RUNNING = frozenset({"RUNNING", "CONFIGURING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"})
# Ended: how, as the faces say it.
ENDED = {
    "COMPLETED": "completed",
    "FAILED": "failed (exit code {exit_code})",
    "CANCELLED": "cancelled",
    "TIMEOUT": "timed out at its time limit",
    "NODE_FAIL": "ended by a node failure",
    "PREEMPTED": "preempted",
    "OUT_OF_MEMORY": "killed for using more memory than it asked for",
    "BOOT_FAIL": "failed to boot its node",
    "DEADLINE": "passed its deadline",
    "SPECIAL_EXIT": "ended in a special exit",
    "REVOKED": "revoked",
}


# Why a job waits, in a person's words (SLURM's reason codes; others are shown as SLURM says them).
REASONS = {
    "Resources": "the nodes, GPUs or memory it asks for are in use",
    "Priority": "jobs of higher priority are ahead of it",
    "Dependency": "it waits for another job to end",
    "JobHeldUser": "held: `scontrol release JOB` lets it start",
    "JobHeldAdmin": "held by an administrator",
    "BeginTime": "its start time has not come",
    "ReqNodeNotAvail": "a node it needs is unavailable (down, drained or reserved)",
    "PartitionTimeLimit": "its time limit is longer than the partition allows: lower slurm.time_limit",
    "PartitionNodeLimit": "it asks for more nodes than the partition allows",
    "QOSMaxJobsPerUserLimit": "you already run as many jobs as your QOS allows",
    "QOSMaxGRESPerUser": "you already hold as many GPUs as your QOS allows",
    "AssocGrpGRES": "your account's GPU limit is reached",
    "launch failed requeued held": "its launch failed and SLURM held it: `scontrol release JOB`",
}


def reason_words(reason: str | None) -> str:
    """`Resources: the nodes, GPUs or memory it asks for are in use`."""
    if not reason:
        return "waiting for SLURM to start it"
    meaning = REASONS.get(reason) or next(
        (words for code, words in REASONS.items() if reason.startswith(code) or code in reason), None
    )
    return f"{reason}: {meaning}" if meaning else reason


@dataclass(frozen=True)
class JobState:
    """What SLURM says of one job."""

    job_id: str
    state: str  # PENDING, RUNNING, COMPLETED, TIMEOUT… (the first word of SLURM's state)
    reason: str | None  # why it waits (Resources, Priority, QOSMaxJobsPerUserLimit…); None when it does not
    nodes: str | None  # the nodes it runs on (a SLURM host list: gpu[01-02])
    exit_code: str | None  # "1:0": the exit status and the signal
    restarts: int = 0

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def ended(self) -> bool:
        return not self.waiting and not self.running

    def words(self) -> str:
        """How the job is, in a few words: `pending (Resources)`, `running on gpu01`, `timed out…`."""
        if self.waiting:
            return f"{self.state.lower()} ({self.reason or 'waiting'})"
        if self.running:
            return f"running on {self.nodes}" if self.nodes else "running"
        return ENDED.get(self.state, self.state.lower()).format(exit_code=self.exit_code or "?")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SlurmError(
            f"{name} was not found: run tuitune on a SLURM login node (with SLURM's client tools on PATH), "
            "or train here with --backend local."
        )
    return found


def _run(
    name: str, *args: str, cwd: Path | None = None, environment: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_tool(name), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            cwd=cwd,
            env=None if environment is None else dict(environment),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SlurmError(
            f"{name} gave no answer in {TIMEOUT_SECONDS:.0f} s: SLURM's controller may be down or busy; try again."
        ) from None
    except OSError as error:
        raise SlurmError(f"{name} could not be run ({error.strerror or error}).") from None


def _said(result: subprocess.CompletedProcess[str]) -> str:
    text = " ".join((result.stderr or result.stdout or "").split())
    return shorten(text, 300) or f"exit code {result.returncode}"


def submit(script: Path, *, environment: Mapping[str, str] | None = None) -> str:
    """Submit a batch script (`sbatch --parsable`); the job's id. The job starts with `environment`
    (sbatch passes on the one it was run in)."""
    result = _run("sbatch", "--parsable", str(script), cwd=script.parent, environment=environment)
    if result.returncode != 0:
        raise SlurmError(f"sbatch refused the job: {_said(result)}. Fix the slurm settings (see {script.name}).")
    job_id = result.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise SlurmError(f"sbatch answered {shorten(result.stdout.strip(), 80)!r}, not a job id.")
    return job_id


def job(job_id: str) -> JobState | None:
    """What SLURM says of job `job_id` now (None: it no longer knows it)."""
    result = _run("scontrol", "show", "job", "--oneliner", job_id)
    if result.returncode != 0:
        if "invalid job id" in (result.stderr or "").lower():
            return _accounted(job_id)
        raise SlurmError(f"scontrol could not show job {job_id}: {_said(result)}.")
    fields = parse_fields(result.stdout)
    return _state(
        job_id,
        fields.get("JobState"),
        fields.get("Reason"),
        fields.get("NodeList"),
        fields.get("ExitCode"),
        fields.get("Restarts"),
    )


def _accounted(job_id: str) -> JobState | None:
    """A job the controller has forgotten, from SLURM's accounting where the cluster keeps it."""
    if shutil.which("sacct") is None:
        return None
    result = _run("sacct", "--noheader", "--parsable2", "-X", "-j", job_id, "-o", "State,Reason,NodeList,ExitCode")
    if result.returncode != 0 or not result.stdout.strip():
        return None
    state, reason, nodes, exit_code = (result.stdout.strip().splitlines()[-1].split("|") + ["", "", "", ""])[:4]
    return _state(job_id, state, reason, nodes, exit_code, None)


def _state(
    job_id: str, state: str | None, reason: str | None, nodes: str | None, exit_code: str | None, restarts: str | None
) -> JobState | None:
    if not state:
        return None
    return JobState(
        job_id=job_id,
        state=state.split()[0].rstrip("+"),  # "CANCELLED by 0" -> CANCELLED
        reason=None if reason in (None, "", "None", "(null)") else reason,
        nodes=None if nodes in (None, "", "(null)", "None assigned") else nodes,
        exit_code=exit_code or None,
        restarts=int(restarts) if restarts and restarts.isdigit() else 0,
    )


def parse_fields(line: str) -> dict[str, str]:
    """`scontrol --oneliner`'s `Key=Value Key=Value…` (a value may not hold spaces, except the
    last key's) as a dict."""
    fields: dict[str, str] = {}
    key = None
    for word in line.split():
        name, equals, value = word.partition("=")
        if equals and name and name.replace("/", "").replace(":", "").isalnum():
            key = name
            fields[key] = value
        elif key is not None:
            fields[key] += " " + word  # "Reason=… (text with spaces)"
    return fields


def cancel(job_id: str, *, graceful: bool) -> None:
    """Cancel the job: `graceful` sends SIGTERM to the batch script and its steps (the run saves a
    checkpoint), otherwise SLURM's plain cancel (for a job that has not started)."""
    args = ["--full", "--signal=TERM", job_id] if graceful else [job_id]
    result = _run("scancel", *args)
    if result.returncode != 0:
        raise SlurmError(f"scancel could not cancel job {job_id}: {_said(result)}.")


def requeue(job_id: str) -> None:
    """Put a running job back in SLURM's queue (it starts again from its script)."""
    result = _run("scontrol", "requeue", job_id)
    if result.returncode != 0:
        raise SlurmError(f"scontrol could not requeue job {job_id}: {_said(result)}.")


@dataclass(frozen=True)
class Partition:
    """One partition as `tuitune cluster` shows it."""

    name: str
    default: bool
    available: bool
    time_limit: str
    nodes: int
    states: dict[str, int]  # node state -> how many nodes
    gpus: int  # GPUs its nodes have (gres gpu)
    free_gpus: int  # GPUs of its usable nodes no job holds


def partitions() -> list[Partition]:
    """The cluster's partitions with their nodes' states and free GPUs (`sinfo`)."""
    summary = _run("sinfo", "--noheader", "-o", "%P|%a|%l")
    nodes = _run("sinfo", "--noheader", "-N", "-O", "NodeList:|,Partition:|,Gres:|,GresUsed:|,StateLong:|")
    for result in (summary, nodes):
        if result.returncode != 0:
            raise SlurmError(f"sinfo could not list the partitions: {_said(result)}.")
    found: dict[str, Partition] = {}
    for line in summary.stdout.splitlines():
        name, available, limit = (line.split("|") + ["", ""])[:3]
        if name:
            default = name.endswith("*")
            found[name.rstrip("*")] = Partition(name.rstrip("*"), default, available == "up", limit, 0, {}, 0, 0)
    for line in nodes.stdout.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) < 5 or parts[1].rstrip("*") not in found:
            continue
        name = parts[1].rstrip("*")
        total, used = gpu_count(parts[2]), gpu_count(parts[3])
        state = parts[4].rstrip("*~#$@+").lower() or "unknown"
        usable = state in ("idle", "mixed", "allocated", "completing")
        old = found[name]
        found[name] = Partition(
            old.name,
            old.default,
            old.available,
            old.time_limit,
            old.nodes + 1,
            {**old.states, state: old.states.get(state, 0) + 1},
            old.gpus + total,
            old.free_gpus + (max(0, total - used) if usable else 0),
        )
    return list(found.values())


def gpu_count(gres: str) -> int:
    """GPUs in a gres string: `gpu:2`, `gpu:a100:4(S:0-1)`, `gpu:0,shard:4` -> 2, 4, 0."""
    count = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and parts[-1].isdigit():
            count += int(parts[-1])
    return count
