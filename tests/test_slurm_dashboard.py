"""The API and the dashboard on a SLURM run (backend slurm, the tests' one-node cluster): the job,
its state and why it waits. Apart from tests/test_slurm.py: the browser's event loop and the app's
pilot do not share a module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import cli_json, running_server, wait_for
from tests.slurm_cluster import current, slurm_config

pytestmark = [pytest.mark.integration, pytest.mark.serial]


def test_the_api_and_the_dashboard_show_a_jobs_state_and_why_it_waits(
    slurm_cluster: Any, tuitune_home: Path, demo_model_path: Path, tmp_path: Path, page: Any
) -> None:
    held = cli_json("train", "-c", str(slurm_config(tmp_path, extra_sbatch=["--hold"])), "--max-steps", "4", "--detach")
    run_id, job_id = held["run_id"], held["job_id"]
    with running_server() as url:
        wait_for(lambda: current(run_id).slurm.get("reason"), timeout=60, interval=0.5, what="SLURM's reason")
        document = httpx.get(f"{url}/runs/{run_id}").json()
        assert document["slurm"]["job_id"] == job_id and document["slurm"]["reason"] == "JobHeldUser"
        assert document["slurm_words"].startswith(f"job {job_id} · pending (JobHeldUser): held")
        page.goto(f"{url}/#/runs/{run_id}")
        expect(page.locator("#progress-line")).to_contain_text(f"SLURM job {job_id} · pending (JobHeldUser)")
        cancelled = httpx.post(f"{url}/runs/{run_id}/cancel", json={})
        assert cancelled.status_code == 200, cancelled.text
        expect(page.locator("#status")).to_have_text("cancelled")
