"""The speed benchmarks and the GPU suite run end to end on a CPU, so they cannot rot unseen.

The figures they print here mean nothing (tiny models, two steps, a loaded machine); what these
tests check is that every step of each script runs and writes what it says it writes.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


def test_the_gpu_suite_runs_its_dry_run_on_a_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        "bash",
        "benchmarks/gpu_suite.sh",
        "--dry-run",
        env={
            "OUT": str(out),
            "TUITUNE_PYTHON": sys.executable,
            "TUITUNE_GPU_SUITE_WORK": str(tmp_path / "models"),
            "CUDA_VISIBLE_DEVICES": "",
        },
    )

    assert "== 1. pytest -m gpu" in result.stdout and "== 2. measurements" in result.stdout
    assert "skipped" in result.stdout  # the gpu tests skip without CUDA
    tables = sorted(out.glob("gpu-suite-*.md"))
    assert len(tables) == 1 and sorted(out.glob("gpu-suite-*.log"))
    table = tables[0].read_text()
    assert "| model | method | variant | batch x length | trained tokens/s | vs plain | MFU |" in table
    for architecture, method in [
        ("qwen2.5-0.5b", "lora"),
        ("qwen2.5-1.5b", "lora"),
        ("qwen2.5-1.5b", "qlora"),
        ("llama-3-8b", "qlora"),
    ]:
        assert f"| {architecture} | {method} | default | 8 x 512 |" in table
        assert f"| {architecture} | {method} | 8 x 512 |" in table  # the memory check
    assert "| qwen2.5-0.5b | lora | compile | | not run: needs CUDA |" in table  # compiling goes last
    assert "| qwen2.5-0.5b | lora | plain | 8 x 512 |" in table and "| 1.00x |" in table
    assert "| length-grouped padding |" in table  # what packing: auto chose
    # The preference objectives against TRL, tiny on the CPU.
    assert "== 4. dpo and grpo against TRL" in result.stdout
    dpo = next(out.glob("peers-dpo-*.md")).read_text()
    assert "| trl | " in dpo and "final loss tuitune vs trl:" in dpo
    grpo = next(out.glob("peers-grpo-*.md")).read_text()
    assert "| variant | samples/s (median) |" in grpo and "| tuitune | " in grpo


def test_the_peers_benchmark_trains_each_variant_and_compares_losses() -> None:
    variants = "tuitune,tuitune-packing" + (",trl,trl-packing" if importlib.util.find_spec("trl") else "")
    result = run(
        sys.executable,
        "benchmarks/peers.py",
        "--model",
        "llama-4m",
        "--steps",
        "2",
        "--repeats",
        "1",
        "--rows",
        "48",
        "--max-length",
        "256",
        "--variants",
        variants,
    )

    assert "| variant | trained tokens/s (median) |" in result.stdout
    assert "| tuitune (auto: padding) |" in result.stdout
    assert "| tuitune-packing |" in result.stdout
    if "trl" in variants:
        assert "| trl-packing |" in result.stdout
        assert "held-out loss tuitune vs trl:" in result.stdout


def test_the_dpo_benchmark_trains_each_variant_and_compares_losses() -> None:
    result = run(
        sys.executable,
        "benchmarks/peers.py",
        "--objective",
        "dpo",
        "--model",
        "llama-4m",
        "--rows",
        "8",
        "--steps",
        "3",  # 2 steps an epoch: tuitune computes the reference once
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--logging-steps",
        "1",
        "--repeats",
        "1",
        "--variants",
        "trl,trl-grouped,trl-precomputed,tuitune,tuitune-live",
    )

    assert "| variant | pairs/s (median) |" in result.stdout
    assert "| tuitune (the base model with the adapter switched off, its log-probabilities computed" in result.stdout
    assert "| tuitune-live (the base model with the adapter switched off) |" in result.stdout
    for variant in ("trl-grouped", "trl-precomputed", "tuitune", "tuitune-live"):
        assert f"final loss {variant} vs trl:" in result.stdout


def test_the_grpo_benchmark_compares_samples_per_second() -> None:
    result = run(
        sys.executable,
        "benchmarks/peers.py",
        "--objective",
        "grpo",
        "--steps",
        "2",
        "--max-completion-length",
        "4",
        "--logging-steps",
        "1",
        "--repeats",
        "1",
    )

    assert "| variant | samples/s (median) |" in result.stdout
    assert "| trl | " in result.stdout and "| tuitune | " in result.stdout


def test_the_evaluation_speed_benchmark_compares_batched_with_one_at_a_time() -> None:
    result = run(
        sys.executable,
        "benchmarks/eval_speed.py",
        "--model",
        "llama-4m",
        "--samples",
        "6",
        "--max-new-tokens",
        "4",
        "--batch-sizes",
        "1,4",
        "--repeats",
        "1",
    )

    assert "| one at a time |" in result.stdout and "| batched 4 |" in result.stdout
    assert "| batched 8, no KV cache |" in result.stdout
    assert "same answers in every variant: yes" in result.stdout
