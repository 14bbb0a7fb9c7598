"""Machine readings: cheap, torch-free, and empty (not failing) where there is no NVIDIA driver."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tuitune.system import GpuReading, gpus, process_memory_gb, system_memory, system_memory_gb, total_vram_gb


def test_gpu_readings_are_a_list_and_vram_follows_it() -> None:
    readings = gpus()
    assert all(isinstance(r, GpuReading) for r in readings)
    if not readings:  # this CI machine: no NVML, no error
        assert total_vram_gb() is None
        return
    first = readings[0]
    assert total_vram_gb() == first.memory_total_gb > 0
    assert 0 <= first.memory_used_gb <= first.memory_total_gb
    assert first.utilization_percent is None or 0 <= first.utilization_percent <= 100


@pytest.mark.integration
def test_memory_readings_of_the_machine_and_of_a_process() -> None:
    machine = system_memory()
    assert machine.total_gb == system_memory_gb() > 0
    assert 0 < machine.available_gb <= machine.total_gb
    mine, by_pid = process_memory_gb(), process_memory_gb(os.getpid())
    assert mine is not None and 0 < mine < machine.total_gb
    assert by_pid is not None and by_pid > 0
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert process_memory_gb(finished.pid) is None


@pytest.mark.integration
def test_reading_the_machine_imports_no_training_stack() -> None:
    code = (
        "import sys, tuitune.system as s; s.gpus(); s.total_vram_gb(); s.system_memory(); s.process_memory_gb(); "
        "print([m for m in ('torch', 'transformers', 'peft', 'datasets', 'bitsandbytes') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
