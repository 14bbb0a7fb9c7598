"""A real one-node SLURM cluster for the tests: munge, slurmctld and slurmd from Debian's packages,
started as root with the config in tests/slurm/, on free loopback ports, two fake GPUs.

Where it cannot start (not root, the packages missing) the tests that need it skip with the
reason; in CI (`CI` or `TUITUNE_REQUIRE_SLURM` set, as .ci/run does) they fail instead, so a cluster that silently stopped starting is noticed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tuitune.config import ConfigBuilder
from tuitune.runs import lookup
from tuitune.store import Run, open_store

CONFIG = Path(__file__).parent / "slurm"
TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "munged", "munge")
START_SECONDS = 60.0


@dataclass(frozen=True)
class Cluster:
    folder: Path
    conf: Path
    host: str

    def run(self, *args: str) -> str:
        """A SLURM command's output (it must succeed)."""
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, env=self.environment(), check=False)
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr or result.stdout}"
        return result.stdout

    def environment(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def idle(self) -> bool:
        states = self.run("sinfo", "--noheader", "-o", "%t").split()
        return bool(states) and all(state.rstrip("*") == "idle" for state in states)

    def cancel_all(self) -> None:
        subprocess.run(["scancel", "--full", "--signal=KILL", "-u", "root"], env=self.environment(), check=False)
        subprocess.run(["scancel", "-u", "root"], env=self.environment(), check=False)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("TUITUNE_REQUIRE_SLURM"):
        pytest.fail(f"the test SLURM cluster could not start in CI: {reason}")
    pytest.skip(f"no SLURM cluster: {reason}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _munge_works() -> bool:
    try:
        encoded = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=False)
        decoded = subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return encoded.returncode == 0 and decoded.returncode == 0


def _start_munge() -> None:
    if _munge_works():
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", shutil.which("munged") or "munged"], check=False, timeout=30)
    deadline = time.monotonic() + 15
    while not _munge_works():
        if time.monotonic() > deadline:
            _unavailable("munged did not start (see /var/log/munge/munged.log)")
        time.sleep(0.2)


def start(folder: Path) -> Cluster:
    if os.geteuid() != 0:
        _unavailable("the tests start SLURM's daemons as root, and this is not root")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not installed (apt-get install slurmctld slurmd slurm-client munge)")
    _start_munge()
    for sub in ("spool", "state"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    if Path("/dev/tty0").exists() and Path("/dev/tty1").exists():
        devices = "/dev/tty[0-1]"
    else:
        for index in (0, 1):
            (folder / f"gpu{index}").touch()
        devices = f"{folder}/gpu[0-1]"
    fields = {
        "host": host,
        "folder": str(folder),
        "controller_port": _free_port(),
        "node_port": _free_port(),
        "cpus": os.cpu_count() or 1,
        "memory": 8000,
    }
    conf = folder / "slurm.conf"
    conf.write_text((CONFIG / "slurm.conf.in").read_text().format(**fields))
    (folder / "gres.conf").write_text(
        (CONFIG / "gres.conf.in").read_text().format(**fields).replace("/dev/tty[0-1]", devices)
    )
    cluster = Cluster(folder, conf, host)
    env = cluster.environment()
    for daemon in (["slurmctld", "-i", "-f", str(conf)], ["slurmd", "-f", str(conf)]):
        started = subprocess.run(daemon, capture_output=True, text=True, timeout=60, env=env, check=False)
        if started.returncode != 0:
            _unavailable(f"{daemon[0]} did not start: {started.stderr.strip()[:300]}")
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if cluster.idle():
                return cluster
            states = cluster.run("sinfo", "--noheader", "-o", "%t").split()
            if any(state.rstrip("*") in ("drain", "drng", "down", "inval") for state in states):
                subprocess.run(["scontrol", "update", f"nodename={host}", "state=resume"], env=env, check=False)
        except AssertionError:
            pass  # the controller is not answering yet
        if time.monotonic() > deadline:
            log = (folder / "slurmd.log").read_text(errors="replace")[-600:] if (folder / "slurmd.log").exists() else ""
            stop(cluster)
            _unavailable(f"the node did not become idle in {START_SECONDS:.0f} s: {log}")
        time.sleep(0.5)


def stop(cluster: Cluster) -> None:
    """Cancel every job and wait for them to be gone, then stop both daemons (killed if they will
    not go): a test session leaves no daemon nor job step behind."""
    cluster.cancel_all()
    env = cluster.environment()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = subprocess.run(
            ["squeue", "--noheader", "-o", "%i"], capture_output=True, text=True, env=env, check=False, timeout=30
        )
        if listed.returncode != 0 or not listed.stdout.strip():
            break
        time.sleep(0.5)
    subprocess.run(["scontrol", "shutdown"], env=env, check=False, capture_output=True, timeout=30)
    for name in ("slurmd.pid", "slurmctld.pid"):
        pid_file = cluster.folder / name
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue
        _end(pid)


def _end(pid: int, seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `seconds`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- runs on it ------------------------------------------------------------------------------
def slurm_config(folder: Path, name: str = "run.yaml", **slurm: Any) -> Path:
    """A demo run (a constant learning rate, so a resumed run can end where an uninterrupted one
    does) as a SLURM job with `slurm` settings."""
    path = folder / name
    built = (
        ConfigBuilder()
        .demo()
        .data(max_length=128, packing=True)
        .training(
            learning_rate=1e-3,
            lr_scheduler="constant",
            warmup_ratio=0.0,
            batch_size=4,
            logging_steps=2,
            save_steps=1000,
        )
        .build()
    )
    data = built.to_dict()
    data["backend"] = "slurm"
    data["slurm"] = slurm
    path.write_text(json.dumps(data))
    return path


def current(run_id: int) -> Run:
    return lookup.current(run_id, store=open_store())
