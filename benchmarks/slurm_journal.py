"""What a SLURM run's progress costs against a local run's: the worker's writes journalled, then
folded into the login node's store, against the same writes made to the store directly.

A run of `--steps` logging steps makes what a worker makes per step: a heartbeat, a metric point,
an event every tenth step. The baseline writes them to the store (a local worker); ours writes
them to a scratch store with the journal on (a job on its node), then folds the journal into the
main store in one look and in looks of `--every` lines (a face following the run live). Prints the
seconds of each and the ratios.

    .venv/bin/python benchmarks/slurm_journal.py [--steps 2000] [--every 20]

Runs in a temporary TUITUNE_HOME; your own store is never touched.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _writes(store, run_id: int, steps: int) -> None:  # type: ignore[no-untyped-def]
    for step in range(1, steps + 1):
        store.heartbeat(run_id, steps_done=step, steps_total=steps, epoch=step / steps)
        store.add_metric_points(run_id, [{"step": step, "loss": 2.0 - step / steps, "learning_rate": 2e-4}])
        if step % 10 == 0:
            store.add_event(run_id, f"step {step}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=20, help="lines per look while following")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tuitune-journal-"))
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.store import journal, open_store
    from tuitune.system import paths

    main_store = open_store()
    local = main_store.create_run(name="local", config={}, model="m", method="lora", dataset="d")
    started = time.perf_counter()
    _writes(main_store, local.id, args.steps)
    baseline = time.perf_counter() - started

    remote = main_store.create_run(name="job", config={}, model="m", method="lora", dataset="d")
    main_store.update_run(remote.id, slurm={})
    snapshot = journal.snapshot(main_store, remote.id)
    path = home / "journal.jsonl"
    os.environ[paths.STORE_ENV] = str(home / "scratch.db")
    scratch = open_store()
    journal.restore(scratch, snapshot)
    os.environ[journal.JOURNAL_ENV], os.environ[journal.JOURNAL_RUN_ENV] = str(path), str(remote.id)
    started = time.perf_counter()
    _writes(scratch, remote.id, args.steps)
    job = time.perf_counter() - started
    del os.environ[journal.JOURNAL_ENV], os.environ[paths.STORE_ENV]
    main_store = open_store()

    # One look after the job (a face opened in the morning), then the same lines looked at live.
    started = time.perf_counter()
    journal.fold(main_store, remote.id, path)
    fold_once = time.perf_counter() - started
    live = main_store.create_run(name="followed", config={}, model="m", method="lora", dataset="d")
    main_store.update_run(live.id, slurm={})
    lines = path.read_text().splitlines(keepends=True)
    followed = home / "followed.jsonl"
    looks, fold_live = 0, 0.0
    for start in range(0, len(lines), args.every):
        with followed.open("a") as out:
            out.write(
                "".join(
                    line.replace(f'"args": [{remote.id}', f'"args": [{live.id}')
                    for line in lines[start : start + args.every]
                )
            )
        began = time.perf_counter()
        journal.fold(main_store, live.id, followed)
        fold_live += time.perf_counter() - began
        looks += 1
    points = len(main_store.metric_points(live.id))
    assert points == args.steps == len(main_store.metric_points(remote.id)), "a point was lost or repeated"
    print(f"{args.steps} steps, {len(lines)} journal lines ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"  local worker, straight to the store:   {baseline:6.2f} s")
    print(f"  job, scratch store + journal:           {job:6.2f} s   ratio {job / baseline:.2f}x")
    print(f"  fold on the login node, one look:       {fold_once:6.2f} s   ratio {fold_once / baseline:.2f}x")
    print(f"  fold followed live, {looks} looks:       {fold_live:6.2f} s   ratio {fold_live / baseline:.2f}x")


if __name__ == "__main__":
    main()
