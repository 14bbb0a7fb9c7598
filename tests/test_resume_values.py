"""A resume with values that cannot work is refused before the run is touched: nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli, cli_json
from tuitune.store import COMPLETED, open_store

pytestmark = pytest.mark.slow


def test_bad_resume_values_leave_a_completed_run_exactly_as_it_was(demo_model_path: Path) -> None:
    run_id = cli_json("train", "--demo", "--max-steps", "2", "--max-length", "64")["run_id"]
    store = open_store()
    before = store.get_run(run_id)
    assert before.output_dir is not None
    config_file = Path(before.output_dir) / "config.yaml"
    config_text = config_file.read_text()
    events = len(store.events(run_id))

    for flags in (
        ["--epochs", "inf"],
        ["--epochs", "nan"],
        ["--epochs", "-1"],
        ["--max-steps", str(2**63)],
        ["--max-steps", "0"],
    ):
        result = cli("resume", str(run_id), *flags)
        assert_one_line_error(result, code=result.returncode)
        assert result.returncode in (1, 2), flags
        after = store.get_run(run_id)
        assert after == before, flags
        assert config_file.read_text() == config_text
        assert len(store.events(run_id)) == events

    # The run still resumes with a sensible value afterwards.
    resumed = cli_json("resume", str(run_id), "--max-steps", "4")
    assert resumed["status"] == COMPLETED and resumed["steps_completed"] == 4
