"""Stop a real run at different moments, resume it, and check nothing was lost.

    python scripts/reliability_trials.py [--trials 6] [--steps 24]

For each trial a detached demo run (constant learning rate, a checkpoint every 4 steps) is stopped
once it has logged a different step (from the first to the last few), alternately with SIGTERM (what `tuitune cancel` sends: the run must end
`cancelled`) and SIGKILL (a crash: it must end `crashed` once noticed); then it is resumed to the
full step count. The final loss is compared with an uninterrupted run of the same job: resuming
from a checkpoint restores the optimizer, the scheduler and the random state, so the loss at the
last step should match (|Δ| is printed). Prints a table and a one-line summary.
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


def tuitune(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TUITUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-m", "tuitune", *args], capture_output=True, text=True, env=env, timeout=900
    )


def final_loss(home: Path, run_id: int, step: int) -> float | None:
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.store import open_store

    points = [p for p in open_store().metric_points(run_id) if p.step == step and p.loss is not None]
    return points[-1].loss if points else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tuitune.config import ConfigBuilder

    home = Path(tempfile.mkdtemp(prefix="tuitune-trials-"))
    config = home / "job.yaml"
    ConfigBuilder().demo().method("full_finetuning").data(max_length=64).training(
        max_steps=args.steps,
        learning_rate=1e-3,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        logging_steps=1,
        save_steps=4,
        save_total_limit=None,
        seed=7,
    ).build().save(config)
    reference = json.loads(tuitune(home, "train", "-c", str(config), "--json").stdout)
    expected = final_loss(home, reference["run_id"], args.steps)
    print(f"uninterrupted: {args.steps} steps, loss at step {args.steps} = {expected:.6f}")
    print("| trial | signal | sent after step | stopped at step | status | resumed | loss at the end | |Δ| |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    worst, good = 0.0, 0
    os.environ["TUITUNE_HOME"] = str(home)
    from tuitune.store import open_store

    store = open_store()
    for trial in range(args.trials):
        kill = trial % 2 == 1
        # Spread over the run: the first step, between checkpoints, on them, the last steps.
        target = 1 + trial * (args.steps - 3) // max(1, args.trials - 1)
        started = json.loads(tuitune(home, "train", "-c", str(config), "--detach", "--json").stdout)
        run_id = started["run_id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            logged = [p.step for p in store.metric_points(run_id) if p.loss is not None]
            if logged and max(logged) >= target:
                break
            time.sleep(0.02)
        try:
            os.kill(started["pid"], signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            pass  # it had finished: the table says so
        status, stopped_at = "?", 0
        for _ in range(120):
            shown = json.loads(tuitune(home, "show", str(run_id), "--json").stdout)
            status, stopped_at = shown["status"], shown["steps_done"]
            if status not in ("queued", "running"):
                break
            time.sleep(1)
        if status == "completed":
            resumed, loss = "(it had finished)", final_loss(home, run_id, args.steps)
        else:
            done = tuitune(home, "resume", str(run_id), "--json")
            resumed = (
                json.loads(done.stdout)["status"] if done.returncode == 0 else f"failed: {done.stderr.strip()[:60]}"
            )
            loss = final_loss(home, run_id, args.steps)
        delta = abs(loss - expected) if loss is not None else float("nan")
        worst = max(worst, delta) if loss is not None else worst
        right = status == ("crashed" if kill else "cancelled") or status == "completed"
        good += right and loss is not None
        print(
            f"| {trial + 1} | {'SIGKILL' if kill else 'SIGTERM'} | {target} | {stopped_at} | {status} | {resumed} | "
            f"{loss if loss is None else f'{loss:.6f}'} | {delta:.2e} |"
        )
    print(
        f"{good} of {args.trials} trials ended as expected and resumed to step {args.steps}; largest |Δloss| {worst:.2e}"
    )
    return 0 if good == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
