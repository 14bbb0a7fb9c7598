"""How long the history screen waits for 10,000 runs: `Store.list_runs()` vs a naive listing.

The naive baseline is what a first version would write: `RunRow.select()` (full peewee model
instances) turned into the same records with the config parsed eagerly. `list_runs()` selects
named columns as tuples and parses configs only when one is looked at.

    .venv/bin/python benchmarks/store_list.py [--runs 10000] [--repeat 5]

Runs in a temporary TUITUNE_HOME; your own store is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def realistic_config() -> dict[str, Any]:
    # A real run's config (what `tuitune train --demo` stores), about 1.5 KB of JSON.
    try:
        from tuitune.config import ConfigBuilder

        return ConfigBuilder().demo().build().to_dict()
    except Exception:  # the config module is another engineer's; keep the benchmark standalone
        return {"method": "lora", "model": {"name_or_path": "tuitune/demo"}, "padding": "x" * 1400}


def fill(count: int) -> None:
    from tuitune.store.clock import now
    from tuitune.store.db import database
    from tuitune.store.tables import RunRow

    config = json.dumps(realistic_config())
    start = now()
    rows = [
        dict(
            name=f"run-{i}",
            status="completed",
            method="lora",
            model="tuitune/demo",
            dataset="tuitune/sample",
            config=config,
            output_dir=f"/runs/{i}",
            pid=1000 + i,
            host="gpu-box",
            created_at=start + i,
            started_at=start + i,
            finished_at=start + i + 60,
            heartbeat_at=start + i + 59,
            steps_done=100,
            steps_total=100,
            epoch=3.0,
            last_loss=1.1,
            last_eval_loss=1.2,
            best_eval_loss=1.15,
            train_loss=1.3,
            tokens_per_second=2500.0,
            checkpoint=f"/runs/{i}/checkpoints/checkpoint-100",
            version="0.1.0",
        )
        for i in range(count)
    ]
    with database.atomic():
        for first in range(0, count, 500):
            RunRow.insert_many(rows[first : first + 500]).execute()


def naive_list() -> list[Any]:
    from tuitune.store.clock import to_datetime
    from tuitune.store.records import Run
    from tuitune.store.tables import RunRow

    runs = []
    for row in RunRow.select().order_by(RunRow.id.desc()):
        run = Run(
            id=row.id,
            name=row.name,
            status=row.status,
            method=row.method,
            model=row.model,
            dataset=row.dataset,
            output_dir=row.output_dir,
            pid=row.pid,
            host=row.host,
            created_at=to_datetime(row.created_at),
            started_at=to_datetime(row.started_at),
            finished_at=to_datetime(row.finished_at),
            heartbeat_at=to_datetime(row.heartbeat_at),
            steps_done=row.steps_done,
            steps_total=row.steps_total,
            epoch=row.epoch,
            last_loss=row.last_loss,
            last_eval_loss=row.last_eval_loss,
            best_eval_loss=row.best_eval_loss,
            train_loss=row.train_loss,
            tokens_per_second=row.tokens_per_second,
            error=row.error,
            cancel_requested=row.cancel_requested,
            checkpoint=row.checkpoint,
            version=row.version,
            notes=row.notes,
            config_json=row.config,
        )
        run.config  # noqa: B018  (eager parse, as a naive version with `config: dict` would)
        runs.append(run)
    return runs


def best_of(repeat: int, action: Callable[[], list[Any]]) -> tuple[float, float, int]:
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = len(action())
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["TUITUNE_HOME"] = home
        from tuitune.store import open_store

        store = open_store()
        fill(args.runs)
        store.list_runs()  # warm the page cache and the connection, for both contenders

        ours_best, ours_median, ours_count = best_of(args.repeat, store.list_runs)
        naive_best, naive_median, naive_count = best_of(args.repeat, naive_list)
        assert ours_count == naive_count == args.runs

    print(f"runs listed:                 {args.runs}")
    print(f"Store.list_runs()            best {ours_best * 1000:7.1f} ms   median {ours_median * 1000:7.1f} ms")
    print(f"naive RunRow.select() + json best {naive_best * 1000:7.1f} ms   median {naive_median * 1000:7.1f} ms")
    print(f"speed-up (naive / ours, best): {naive_best / ours_best:.1f}x")


if __name__ == "__main__":
    main()
