"""On a machine that cannot reach the Hub (an air-gapped GPU box), a Hub id fails at once in one
line, instead of huggingface_hub's five retries with warnings on stderr."""

from __future__ import annotations

import pytest

from tests.helpers import assert_one_line_error, cli

# `.invalid` never resolves (RFC 2606): the Hub is unreachable whatever this machine's network.
UNREACHABLE = {
    "HF_HUB_OFFLINE": "",
    "TRANSFORMERS_OFFLINE": "",
    "HF_DATASETS_OFFLINE": "",
    "HF_ENDPOINT": "https://hub.invalid",
}


def test_hub_reachability_is_a_dns_question(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuitune.system import hub

    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    hub.hub_reachable.cache_clear()
    try:
        assert hub.hub_reachable() is False
        monkeypatch.setenv("HF_HUB_OFFLINE", "")
        monkeypatch.setenv("TRANSFORMERS_OFFLINE", "")
        assert hub.local_files_only() is True
    finally:
        hub.hub_reachable.cache_clear()


@pytest.mark.integration  # the real CLI, in a child process
def test_a_model_id_fails_in_one_line_without_retries() -> None:
    result = cli("recommend", "someone/some-model", env=UNREACHABLE, timeout=120)
    assert_one_line_error(result, "someone/some-model", "could not be reached")
    assert "Retry" not in result.stderr


@pytest.mark.integration  # the real CLI, in a child process
def test_a_dataset_id_fails_in_one_line_without_retries() -> None:
    result = cli("data", "someone/some-dataset", env=UNREACHABLE, timeout=120)
    assert_one_line_error(result, "someone/some-dataset", "cannot be reached")
    assert "Retry" not in result.stderr
