"""Users who outgrow one process: a run trained by a group of processes through `accelerate launch`
(gloo on the CPU here; NCCL on GPUs), supervised as one run: metrics written once, cancel and
resume for the whole group, a dead rank named, no process left behind."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
import yaml

from tests.helpers import cli, cli_json, wait_for, wait_for_status
from tuitune.runs.lookup import pid_alive
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, open_store

pytestmark = pytest.mark.integration  # process groups: a supervisor and its ranks

FINISHED = {COMPLETED, FAILED, CANCELLED, CRASHED}


@pytest.fixture
def job(tmp_path: Path) -> list[str]:
    """The demo model fully fine-tuned, a loss logged at every step: `tuitune train -c JOB.yaml`."""
    from tuitune.config import ConfigBuilder

    path = tmp_path / "job.yaml"
    ConfigBuilder().demo().method("full_finetuning").data(max_length=64).training(
        learning_rate=1e-3, lr_scheduler="constant", warmup_ratio=0.0, logging_steps=1, save_steps=1000, seed=7
    ).build().save(path)
    return ["-c", str(path)]


def both_ranks_training(run_id: int, *, steps: int) -> None:
    """Wait until both processes of a 2-process run heartbeat and it has logged `steps` steps."""
    store = open_store()
    wait_for(
        lambda: len(store.processes(run_id)) == 2 and store.get_run(run_id).steps_done >= steps,
        timeout=300,
        what="both ranks training",
    )


def losses(run_id: int) -> dict[int, float]:
    return {p.step: p.loss for p in open_store().metric_points(run_id) if p.loss is not None}


@pytest.mark.slow
def test_two_processes_train_like_one_with_the_same_global_batch(job: list[str], demo_model_path: Path) -> None:
    # The same job with the same global batch: 2 processes x 2 samples, or 1 process x 4.
    group = cli_json("train", *job, "--nproc", "2", "--batch-size", "2", "--max-steps", "12", timeout=600)
    single = cli_json("train", *job, "--batch-size", "4", "--max-steps", "12", timeout=600)
    assert group["status"] == single["status"] == COMPLETED
    store = open_store()

    # Rank 0 alone writes: one point per logged step, none from rank 1.
    steps = [p.step for p in store.metric_points(group["run_id"]) if p.loss is not None]
    assert steps == list(range(1, 13))
    ranks = store.processes(group["run_id"])
    assert [process.rank for process in ranks] == [0, 1] and ranks[0].pid != ranks[1].pid
    folder = Path(group["output_dir"])
    accelerate = yaml.safe_load((folder / "accelerate_config.yaml").read_text())
    assert accelerate["num_processes"] == 2 and accelerate["distributed_type"] == "MULTI_GPU"
    assert (folder / "model" / "model.safetensors").exists()

    # Same objective, same global batch: the curves agree. The samples in each step differ
    # (each process draws its own length-grouped half), so the tolerance is on the trend.
    grouped, alone = losses(group["run_id"]), losses(single["run_id"])
    assert abs(grouped[1] - alone[1]) / alone[1] < 0.02
    tail = [step for step in alone if step >= 8]
    mean = lambda curve: sum(curve[s] for s in tail) / len(tail)  # noqa: E731
    assert abs(mean(grouped) - mean(alone)) / mean(alone) < 0.05, (grouped, alone)
    assert mean(grouped) < grouped[1]  # it learned


@pytest.mark.slow
def test_cancel_stops_every_process_and_resume_finishes_with_two(job: list[str], demo_model_path: Path) -> None:
    started = cli_json("train", *job, "--nproc", "2", "--batch-size", "2", "--max-steps", "100000", "--detach")
    run_id = started["run_id"]
    store = open_store()
    both_ranks_training(run_id, steps=3)
    ranks = store.processes(run_id)
    assert cli("cancel", str(run_id), "--wait", timeout=300).returncode == 0
    run = store.get_run(run_id)
    assert run.status == CANCELLED and run.checkpoint
    wait_for(lambda: not any(pid_alive(rank.pid) for rank in ranks), timeout=30, what="both ranks to exit")

    resumed = cli_json("resume", str(run_id), "--max-steps", str(run.steps_done + 3), timeout=600)
    assert resumed["status"] == COMPLETED and resumed["steps_completed"] == run.steps_done + 3
    assert {process.rank for process in store.processes(run_id)} == {0, 1}


@pytest.mark.serial  # holds the group to seconds
@pytest.mark.slow
def test_a_killed_rank_crashes_the_run_at_once_and_leaves_no_process(job: list[str], demo_model_path: Path) -> None:
    started = cli_json("train", *job, "--nproc", "2", "--batch-size", "2", "--max-steps", "100000", "--detach")
    run_id = started["run_id"]
    store = open_store()
    both_ranks_training(run_id, steps=2)
    ranks = store.processes(run_id)
    supervisor = store.get_run(run_id).pid
    victim = next(rank for rank in ranks if rank.rank == 1)
    os.kill(victim.pid, signal.SIGKILL)
    # Recorded within 15 s of the kill, naming the rank.
    wait_for(
        lambda: store.get_run(run_id).status == CRASHED and "rank 1" in (store.get_run(run_id).error or ""),
        timeout=15,
        what="the crash naming rank 1",
    )
    assert "died" in (store.get_run(run_id).error or "")
    wait_for(
        lambda: not any(pid_alive(pid) for pid in (supervisor, *(rank.pid for rank in ranks))),
        timeout=20,
        what="no process of the group left",
    )


@pytest.mark.serial  # holds the group to seconds
@pytest.mark.slow
def test_a_killed_supervisor_takes_its_ranks_with_it_and_resume_trains_once(
    job: list[str], demo_model_path: Path
) -> None:
    started = cli_json("train", *job, "--nproc", "2", "--batch-size", "2", "--max-steps", "100000", "--detach")
    run_id = started["run_id"]
    store = open_store()
    both_ranks_training(run_id, steps=2)
    ranks = [rank.pid for rank in store.processes(run_id)]
    supervisor = store.get_run(run_id).pid
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    # Nobody is asked: the ranks notice on their own (no command runs meanwhile).
    wait_for(lambda: not any(pid_alive(pid) for pid in ranks), timeout=15, what="every rank to follow its supervisor")
    # Ended, not running: crashed, or failed when a rank that lost its peer first said so in words.
    assert cli_json("show", str(run_id))["status"] in (CRASHED, FAILED)
    steps_then = max(p.step for p in store.metric_points(run_id))
    resumed = cli_json("resume", str(run_id), "--max-steps", str(steps_then + 4), timeout=600)
    assert resumed["status"] == COMPLETED
    steps = [p.step for p in store.metric_points(run_id) if p.loss is not None]
    assert steps == sorted(set(steps)), "a step was trained twice"
    assert steps[-1] == steps_then + 4
    assert cli_json("store", "check")["findings"] == []  # no step recorded twice


@pytest.mark.slow
def test_a_run_whose_ranks_still_live_is_neither_crashed_nor_resumed(tuitune_home: Path) -> None:
    # A rank that outlives its supervisor (one with no way to know it, started by hand) keeps
    # the run alive: it is not crashed, and resume refuses rather than start a second group.
    import subprocess
    import sys

    store = open_store()
    run = store.create_run(name="g", config={}, model="m", method="full_finetuning", dataset="d")
    store.set_status(run.id, "running")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        store.update_run(run.id, pid=gone.pid)
        store.heartbeat(run.id)
        store.process_heartbeat(
            run.id,
            rank=1,
            pid=rank.pid,
            host=socket.gethostname(),
            device=None,
            step=3,
            gpu_memory_gb=None,
            cpu_memory_gb=None,
        )
        assert cli_json("show", str(run.id))["status"] == "running"
        refused = cli("resume", str(run.id))
        assert refused.returncode == 1 and "still running" in refused.stderr
    finally:
        rank.kill()
        rank.wait()
    assert cli_json("show", str(run.id))["status"] == CRASHED


@pytest.mark.slow
def test_two_machines_simulated_on_one_complete_together(job: list[str], demo_model_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    both = [
        "--nnodes",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        port,
        "--nproc",
        "1",
        "--batch-size",
        "2",
        "--max-steps",
        "4",
    ]
    main = cli_json("train", *job, *both, "--node-rank", "0", "--name", "node-0", "--detach")
    other = cli_json("train", *job, *both, "--node-rank", "1", "--name", "node-1", "--detach")
    first, second = (wait_for_status(run["run_id"], FINISHED, timeout=600) for run in (main, other))
    assert first.status == second.status == COMPLETED
    store = open_store()
    assert [p.step for p in store.metric_points(first.id) if p.loss is not None][-1] == 4
    assert store.metric_points(second.id) == []  # machine 1's ranks are not rank 0: no metrics twice
    assert [p.rank for p in store.processes(first.id)] == [0] and [p.rank for p in store.processes(second.id)] == [1]


def test_the_accelerate_config_follows_the_strategy(tuitune_home: Path) -> None:
    from tuitune.config import ConfigBuilder, parse_config
    from tuitune.engine.group import accelerate_config, world_size

    base = ConfigBuilder().demo().build().to_dict()
    ddp = parse_config({**base, "distributed": {"nproc": 4}})
    document = accelerate_config(ddp, ["0", "1", "2", "3"], 29600)
    assert (document["distributed_type"], document["num_processes"], document["main_process_port"]) == (
        "MULTI_GPU",
        4,
        29600,
    )
    assert world_size(ddp, []) == 4 and world_size(parse_config(base), ["0", "1"]) == 2

    fsdp = parse_config(
        {**base, "distributed": {"strategy": "fsdp", "nnodes": 2, "node_rank": 1, "master_addr": "10.0.0.1"}}
    )
    document = accelerate_config(fsdp, ["0", "1"], 29500)
    assert (
        document["distributed_type"] == "FSDP"
        and document["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    )
    assert (
        document["num_processes"],
        document["num_machines"],
        document["machine_rank"],
        document["main_process_ip"],
    ) == (4, 2, 1, "10.0.0.1")


def test_strategies_that_cannot_work_are_refused_before_launch(tuitune_home: Path) -> None:
    from tests.helpers import assert_one_line_error

    assert_one_line_error(
        cli("train", "--demo", "--method", "qlora", "--strategy", "fsdp", "--save-config", "x.yaml"), "qlora", "ddp"
    )
    assert_one_line_error(
        cli("train", "--demo", "--nnodes", "2", "--node-rank", "2", "--save-config", "x.yaml"), "node_rank"
    )
    if __import__("importlib").util.find_spec("deepspeed") is None:
        assert_one_line_error(
            cli("train", "--demo", "--strategy", "deepspeed-zero3", "--save-config", "x.yaml"), "pip install deepspeed"
        )
    assert open_store().count_runs() == 0


def test_a_sharded_checkpoint_is_not_resumed_with_another_number_of_processes(tuitune_home: Path) -> None:
    from tuitune.config import ConfigBuilder
    from tuitune.engine import launcher
    from tuitune.engine.group import ACCELERATE_CONFIG, run_group
    from tuitune.engine.stop import StopRequest

    config = ConfigBuilder().demo().build()
    config.distributed.strategy = "fsdp"
    config.distributed.nproc = 2
    run = launcher.create_run(config)
    assert run.output_dir is not None
    (Path(run.output_dir) / ACCELERATE_CONFIG).write_text("num_processes: 4\n")
    assert run_group(run.id, open_store(), resume=True, stop=StopRequest()) == FAILED
    assert "needs 4 again: resume it with --nproc 4" in (open_store().get_run(run.id).error or "")


def test_recommend_picks_a_strategy_for_several_gpus(tuitune_home: Path) -> None:
    from tuitune.models.memory import per_gpu_gb
    from tuitune.models.recommend import recommend

    advice = recommend("tuitune/demo", vram_gb=24, gpus=4)
    assert advice.strategy == "ddp" and advice.gpus == 4 and "on 4 GPUs: ddp" in advice.reason
    assert advice.to_config().distributed.nproc == 4
    estimate = advice.estimates["full_finetuning"]
    sharded = per_gpu_gb(estimate, "fsdp", 4)
    assert sharded < per_gpu_gb(estimate, "deepspeed-zero2", 4) < per_gpu_gb(estimate, "ddp", 4)


@pytest.mark.slow
def test_lora_with_fsdp_shards_across_two_processes_and_saves_a_standard_adapter(
    job: list[str], demo_model_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    done = cli_json(
        "train",
        *job,
        "--method",
        "lora",
        "--nproc",
        "2",
        "--strategy",
        "fsdp",
        "--batch-size",
        "2",
        "--max-steps",
        "3",
        timeout=600,
    )
    assert done["status"] == COMPLETED
    adapter = Path(done["output_dir"]) / "adapter"
    arguments = torch.load(adapter / "training_args.bin", weights_only=False)
    assert arguments.fsdp and arguments.world_size == 2  # the Trainer really sharded with FSDP
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(demo_model_path), adapter)
    assert any("lora_B" in name and parameter.abs().sum() > 0 for name, parameter in model.named_parameters())


def test_the_rank_named_is_the_one_killed_not_one_that_left_in_words() -> None:
    """When a killed rank takes its peers down, every pid is gone by the time the supervisor looks:
    the one that left without saying how is the culprit; a rank that completed first is not dead."""
    import socket
    import subprocess
    import sys

    from tuitune.engine.group import _killed_rank

    store = open_store()
    run_id = store.create_run(name="group", method="lora", model="m", dataset="d", config={}).id
    host = socket.gethostname()
    gone = []
    for _ in range(2):
        finished = subprocess.Popen([sys.executable, "-c", "pass"])
        finished.wait()
        gone.append(finished.pid)
    for rank, pid in enumerate(gone):
        store.process_heartbeat(run_id, rank=rank, pid=pid, host=host)
    store.process_ended(run_id, rank=0, how="failed")  # lost its peer, said so, exited
    store.process_heartbeat(run_id, rank=0, pid=gone[0], host=host)  # a late beat does not undo it
    assert _killed_rank(store.processes(run_id), host) == f"rank 1 (pid {gone[1]}) died"

    store.process_ended(run_id, rank=1, how="completed")
    assert _killed_rank(store.processes(run_id), host) is None
