"""A command that cannot do its job where it was started says so in one line, before it pretends
to begin: a server on a port already taken, a token no client could send, the terminal app
without a terminal. Each runs as a subprocess, exactly as typed in a shell."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli

pytestmark = pytest.mark.integration  # every case runs the real CLI in a child process

TOKEN = "a-long-enough-test-token-1234"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize("command", ["serve", "web"])
def test_a_server_on_a_port_in_use_says_so_before_announcing_anything(command: str, taken_port: int) -> None:
    result = cli(command, "--port", str(taken_port), timeout=60)
    assert_one_line_error(result, f"127.0.0.1:{taken_port}", "already in use", "--port")
    assert result.stdout == ""  # no "Serving on …" / "tuitune serve: http://…" first


def test_serve_on_an_address_of_another_machine_says_so() -> None:
    result = cli("serve", "--host", "192.0.2.1", "--port", "8765", "--token", TOKEN, timeout=60)
    assert_one_line_error(result, "not an address of this machine", "--host")


@pytest.mark.parametrize(
    "token, said",
    [
        (" " * 20, "blank"),
        ("\t \n" * 8, "blank"),
        (f" {TOKEN}", "starts or ends with whitespace"),
        (f"{TOKEN}\n", "starts or ends with whitespace"),
    ],
)
def test_serve_refuses_a_token_no_client_could_send(token: str, said: str) -> None:
    for how in ("option", "environment"):
        if how == "option":
            result = cli("serve", "--port", "0", "--token", token, timeout=60)
        else:
            result = cli("serve", "--port", "0", timeout=60, env={"TUITUNE_API_TOKEN": token})
        assert_one_line_error(result, "API token", said, code=2)
        assert result.stdout == ""


def test_tuitune_alone_without_a_terminal_says_how_to_use_the_cli() -> None:
    result = cli(timeout=60)  # stdin is /dev/null, as in a script, cron or CI
    assert_one_line_error(result, "not a terminal", "tuitune --help", "tuitune train --demo", code=2)
    assert result.stdout == ""


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--demo", "-d", "/nope.jsonl"], "/nope.jsonl does not exist"),
        (["-m", "no/such-model", "--dataset", "tuitune/sample", "--queue"], "'no/such-model' was not found"),
    ],
)
def test_train_refuses_data_or_a_model_it_cannot_read_before_recording_a_run(
    flags: list[str], said: str, demo_model_path: Path
) -> None:
    from tuitune.store import open_store

    # The same checks the wizard runs before Launch: one line, and no failed run left behind
    # (attached, --detach or --queue alike: the check comes before any of them starts a run).
    assert_one_line_error(cli("train", *flags, timeout=120), said)
    assert open_store().count_runs() == 0
