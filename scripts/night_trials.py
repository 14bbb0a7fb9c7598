"""A night with nobody watching: kill workers the way the OOM killer does and time how long the
queue and a group of processes take to notice, with no command run meanwhile.

    python scripts/night_trials.py [--trials 3] [--skip-group]

1. Queue: one slot, a long demo run training with a short one queued behind it. The long run's
   worker is SIGKILLed; the time until the queue's keeper has recorded the crash and started the
   next run (its worker's pid recorded) is measured from plain store reads only.
2. Group: a 2-process run (gloo on the CPU); its supervisor is SIGKILLed; the time until no rank
   of the group is alive is measured, then the run is resumed and must train each step once.

Prints one line per trial and the worst case. Runs in temporary TUITUNE_HOMEs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tuitune(home: Path, *args: str) -> dict:
    env = {**os.environ, "TUITUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "tuitune", *args, "--json"], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode:
        raise SystemExit(f"tuitune {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def until(predicate, timeout: float, what: str) -> float:
    """Seconds until `predicate()` holds (polling every 50 ms)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def queue_trial(home: Path) -> float:
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.store import CRASHED, open_store

    base = ["--demo", "--method", "full_finetuning", "--max-length", "64"]
    tuitune(home, "queue", "--slots", "1")
    victim = tuitune(home, "train", *base, "--max-steps", "100000", "--queue")["run_id"]
    behind = tuitune(home, "train", *base, "--max-steps", "2", "--queue")["run_id"]
    store = open_store()
    until(lambda: (store.get_run(victim).steps_done or 0) > 0, 300, "the victim to train")
    os.kill(store.get_run(victim).pid, signal.SIGKILL)
    seconds = until(lambda: store.get_run(behind).pid is not None, 60, "the next run to start")
    assert store.get_run(victim).status == CRASHED
    until(lambda: store.get_run(behind).status == "completed", 300, "the next run to complete")
    return seconds


def group_trial(home: Path) -> tuple[float, bool]:
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.runs.lookup import pid_alive
    from tuitune.store import open_store

    base = ["--demo", "--method", "full_finetuning", "--max-length", "64", "--batch-size", "2"]
    run = tuitune(home, "train", *base, "--nproc", "2", "--max-steps", "100000", "--detach")["run_id"]
    store = open_store()
    until(lambda: len(store.processes(run)) == 2 and (store.get_run(run).steps_done or 0) >= 2, 300, "both ranks")
    ranks = [process.pid for process in store.processes(run)]
    os.kill(store.get_run(run).pid, signal.SIGKILL)
    seconds = until(lambda: not any(pid_alive(pid) for pid in ranks), 60, "every rank to follow its supervisor")
    reached = max(point.step for point in store.metric_points(run))
    tuitune(home, "resume", str(run), "--max-steps", str(reached + 3))
    steps = [point.step for point in store.metric_points(run) if point.loss is not None]
    return seconds, steps == sorted(set(steps))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--skip-group", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    queue_times, group_times = [], []
    for trial in range(1, args.trials + 1):
        with tempfile.TemporaryDirectory(prefix="tuitune-night-") as home:
            seconds = queue_trial(Path(home))
            queue_times.append(seconds)
            print(f"queue trial {trial}: next run started {seconds:.1f} s after the SIGKILL", flush=True)
        if not args.skip_group:
            with tempfile.TemporaryDirectory(prefix="tuitune-night-") as home:
                seconds, once = group_trial(Path(home))
                group_times.append(seconds)
                print(
                    f"group trial {trial}: every rank gone {seconds:.1f} s after the supervisor's SIGKILL; "
                    f"resumed with each step once: {once}",
                    flush=True,
                )
    summary = f"worst: next queued run started {max(queue_times):.1f} s after a worker's SIGKILL"
    if group_times:
        summary += f"; ranks gone {max(group_times):.1f} s after their supervisor's"
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
