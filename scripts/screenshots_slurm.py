"""Shoot the app's screens of SLURM runs: a job training, a job waiting for GPUs, and the history
with both, from real jobs on the tests' one-node cluster (tests/slurm_cluster.py: root, and
Debian's slurmctld, slurmd, slurm-client and munge).

    .venv/bin/python scripts/screenshots_slurm.py [--out screenshots] [--size 80x24]

Writes training-slurm-running, training-slurm-pending and history-slurm at 120x36 and 80x24.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from screenshots import _shooter, options  # the shooter and options of every screenshot


def _submit(name: str, **slurm: object) -> int:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher

    config = (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("lora")
        .data(max_length=128, validation_split=0.1)
        .training(max_steps=3000, batch_size=8, logging_steps=2, eval_steps=10, save_steps=3000, learning_rate=2e-3)
        .build()
    )
    config = config.model_copy(update={"backend": "slurm", "slurm": config.slurm.model_copy(update=slurm)})
    return launcher.launch(config).id


async def _shoot_training(shoot: Any, size: tuple[int, int], run_id: int, name: str) -> None:
    from tuitune._dev.pilot import wait_until
    from tuitune.tui.app import create_app

    app = create_app(mode="training", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        training = app.screen
        app.show_training(run_id)
        await wait_until(pilot, lambda: training.run is not None and training.run.id == run_id, what=name)
        await pilot.pause(2.0)
        await shoot(app, name)


async def _shoot(out: Path, size: tuple[int, int], running: int, pending: int) -> list[Path]:
    from tuitune._dev.pilot import wait_until
    from tuitune.tui.app import create_app

    saved: list[Path] = []
    shoot = _shooter(out, size, saved)
    for run_id, name in ((running, "training-slurm-running"), (pending, "training-slurm-pending")):
        await _shoot_training(shoot, size, run_id, name)
    app = create_app(mode="history", reconcile_seconds=None)
    async with app.run_test(size=size) as pilot:
        history = app.screen
        await wait_until(pilot, lambda: history.table.total_count >= 2, what="the runs")
        history.table.move_to(pending)
        await pilot.pause(1.0)
        await shoot(app, "history-slurm")
    return saved


def main() -> int:
    _, sizes, out = options(__doc__.splitlines()[0])
    home = Path(tempfile.gettempdir()) / "tuitune-screenshots-slurm"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    os.environ["TUITUNE_HOME"] = str(home)
    from tests import slurm_cluster

    cluster = slurm_cluster.start(home / "cluster")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    saved: list[Path] = []
    try:
        print("building the demo model…", flush=True)
        subprocess.run([sys.executable, "-m", "tuitune.probe.server", "tuitune/demo"], check=True, capture_output=True)
        running = _submit("demo-on-slurm", time_limit="4:00:00")
        holder = cluster.run("sbatch", "--parsable", "--gres=gpu:2", "--job-name=someone-else", "--wrap", "sleep 900")
        pending = _submit("demo-waits-for-gpus", gpus_per_node=1, partition="debug")
        from tuitune.runs import lookup

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            run, waiting = lookup.current(running), lookup.current(pending)
            if run.steps_done >= 20 and waiting.slurm.get("reason"):
                break
            time.sleep(1)
        for size in sizes:
            print(f"shooting at {size[0]}x{size[1]}…", flush=True)
            saved += asyncio.run(_shoot(out, size, running, pending))  # type: ignore[arg-type]
        cluster.run("scancel", holder.strip())
    finally:
        slurm_cluster.stop(cluster)
    for path in saved:
        path.write_text(path.read_text(encoding="utf-8").replace(str(home), "~/.local/share/tuitune"), encoding="utf-8")
    shutil.rmtree(home, ignore_errors=True)
    print(f"saved {len(saved)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
