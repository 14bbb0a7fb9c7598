"""A message when the night's run is done: a webhook receiver on loopback hears one message per
ending (a completed, a failed, a crashed and a cancelled run, a sweep's end, the queue running dry),
a receiver that is down fails no run, a server refuses a URL a request names, the URL's secret
never shows, and the app rings the terminal's bell."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import cli, cli_json, running_server, wait_for, wait_for_status
from tuitune.config import ConfigBuilder, RunConfig, parse_config
from tuitune.engine import launcher, queue
from tuitune.errors import InvalidConfigError, UsageError
from tuitune.locations import redact_url
from tuitune.runs import notify
from tuitune.runs.lookup import check_alive
from tuitune.runs.notify_send import scrub
from tuitune.store import CANCELLED, COMPLETED, CRASHED, FAILED, RUNNING, Run, open_store

SECRET = "T0SECRET/B0SECRET/xoxsecret"


# --- a receiver on loopback ------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)

    def messages(self, count: int, timeout: float = 240) -> list[Received]:
        """Wait until `count` messages arrived; returns them."""
        wait_for(lambda: len(self.received) >= count, timeout=timeout, what=f"{count} message(s) at the receiver")
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on a free loopback port that records every POST and answers 200."""
    found: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            found.append(Received(self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook/{SECRET}", found)
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once it is closed


def tiny(name: str, steps: int = 2) -> RunConfig:
    return (
        ConfigBuilder()
        .demo()
        .name(name)
        .method("full_finetuning")
        .data(max_length=64)
        .training(max_steps=steps, logging_steps=1, save_steps=1000)
        .build()
    )


def events_of(run_id: int) -> list[str]:
    return [event.message for event in open_store().events(run_id)]


def told(run_id: int, words: str, timeout: float = 120) -> list[str]:
    """Wait for the sender's event on the run (it writes it after its last delivery)."""
    return wait_for(lambda: [message for message in events_of(run_id) if words in message], timeout=timeout, what=words)


def assert_secret_kept(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and "SECRET" not in text, text


# --- the bodies, the styles, the redaction (fast) --------------------------------------------------
def a_run(**values: Any) -> Run:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    base: dict[str, Any] = {
        "id": 7, "name": "night", "status": COMPLETED, "method": "lora", "model": "tuitune/demo",
        "dataset": "tuitune/sample", "output_dir": "/runs/7-night", "pid": None, "host": None,
        "created_at": now, "started_at": now, "finished_at": now.replace(minute=34), "heartbeat_at": None,
        "steps_done": 40, "steps_total": 40, "epoch": 1.0, "last_loss": 1.5, "last_eval_loss": 1.25,
        "best_eval_loss": 1.2, "train_loss": 1.75, "tokens_per_second": None, "error": None,
        "cancel_requested": False, "checkpoint": None, "version": None,
        "config_json": json.dumps({"objective": "dpo"}),
    }  # fmt: skip
    return Run(**{**base, **values})


def test_the_json_body_carries_the_runs_summary() -> None:
    headers, body = notify.request_for(notify.run_message(a_run()), "json")
    document = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert document["event"] == "run" and document["ending"] == COMPLETED
    assert {key: document[key] for key in ("id", "name", "status", "model", "method", "objective")} == {
        "id": 7, "name": "night", "status": COMPLETED, "model": "tuitune/demo", "method": "lora", "objective": "dpo",
    }  # fmt: skip
    assert document["steps_done"] == 40 and document["train_loss"] == 1.75 and document["eval_loss"] == 1.25
    assert document["duration_seconds"] == 30 * 60 and document["output_dir"] == "/runs/7-night"
    assert document["error"] is None and "night" in document["title"]


def test_slack_gets_text_and_ntfy_gets_plain_text_with_title_and_tags() -> None:
    failed = notify.run_message(a_run(status=FAILED, error="CUDA out of memory: lower the batch size."))
    headers, body = notify.request_for(failed, "slack")
    slack = json.loads(body)
    assert list(slack) == ["text"] and "run 7 (night) failed" in slack["text"] and "CUDA out of memory" in slack["text"]
    headers, body = notify.request_for(failed, "ntfy")
    assert headers["Title"] == "tuitune: run 7 (night) failed" and headers["Tags"] == "x"
    assert headers["Priority"] == "high" and headers["Content-Type"].startswith("text/plain")
    assert body.decode().startswith("tuitune/demo · lora · dpo · 40/40 steps") and "CUDA out of memory" in body.decode()
    # A run's name in any script still makes a Latin-1 header.
    headers, _ = notify.request_for(notify.run_message(a_run(name="ночь")), "ntfy")
    headers["Title"].encode("latin-1")


def test_the_style_is_read_from_the_url_unless_given() -> None:
    assert notify.style_of("https://hooks.slack.com/services/T/B/x") == "slack"
    assert notify.style_of("https://ntfy.sh/my-topic") == "ntfy"
    assert notify.style_of("https://ntfy.example.org/topic") == "ntfy"
    assert notify.style_of("https://example.org/hook") == "json"
    assert notify.style_of("https://hooks.slack.com/services/T/B/x", "json") == "json"


def test_a_sweeps_message_counts_its_runs_and_names_the_best() -> None:
    runs = [a_run(id=1, best_eval_loss=0.9), a_run(id=2, status=FAILED, best_eval_loss=None, last_eval_loss=None)]
    message = notify.sweep_message(3, "lr-grid", runs)
    assert message.document["counts"] == {COMPLETED: 1, FAILED: 1} and message.document["best"]["id"] == 1
    assert "2 runs: 1 completed, 1 failed" in message.text


def test_a_webhooks_secret_is_never_shown() -> None:
    url = f"https://user:pass@hooks.slack.com/services/{SECRET}?token=abc"
    assert redact_url(url) == "https://hooks.slack.com/…"
    assert redact_url("https://ntfy.sh") == "https://ntfy.sh"
    assert redact_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/…"
    assert_secret_kept(scrub(f"<urlopen error for {url}>", url), scrub(f"path /services/{SECRET} gone", url))
    with pytest.raises(InvalidConfigError) as refused:
        parse_config({"notify": {"webhook": f"ftp://hooks.slack.com/services/{SECRET}"}}, "run.yaml")
    assert_secret_kept(str(refused.value))
    assert "notify.webhook" in str(refused.value) and "http" in str(refused.value)
    with pytest.raises(UsageError) as refused_flag:
        notify.checked_url(f"hooks.slack.com/services/{SECRET}")
    assert_secret_kept(str(refused_flag.value))


# --- runs that end, for real -------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.slow
def test_a_completed_run_sends_one_message_and_its_url_stays_secret(receiver: Receiver, demo_model_path: Path) -> None:
    done = cli_json(
        "train", "--demo", "--max-steps", "2", "--max-length", "64", "--name", "night", "--notify", receiver.url
    )  # fmt: skip
    assert done["status"] == COMPLETED
    run_id = done["run_id"]
    (message,) = receiver.messages(1)
    assert message.path == f"/hook/{SECRET}" and message.headers["Content-Type"] == "application/json"
    body = message.json()
    assert body["id"] == run_id and body["status"] == COMPLETED and body["steps_done"] == 2
    assert body["objective"] == "sft" and body["output_dir"] == done["output_dir"]
    shown = redact_url(receiver.url)
    assert told(run_id, "Notified webhook") == [f"Notified webhook {shown}: run {run_id} (night) completed"]
    assert len(receiver.received) == 1  # no queue message: the run never waited in one
    # Kept in the store's settings, not in what is copied and shown.
    folder = Path(done["output_dir"])
    assert_secret_kept(
        (folder / "config.yaml").read_text(),
        (folder / "worker.log").read_text(),
        json.dumps(open_store().get_run(run_id).config),
        *events_of(run_id),
        cli("show", str(run_id), "--json").stdout,
        cli("notify", "show").stdout,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_a_failed_queued_run_says_so_and_then_that_the_queue_ran_dry(receiver: Receiver, tmp_path: Path) -> None:
    broken = tiny("broken")
    broken.data.source = str(tmp_path / "missing.jsonl")  # queued unchecked: fails as its data loads
    broken.notify.webhook = receiver.url
    broken.notify.style = "ntfy"
    run = queue.enqueue(broken)
    failed, emptied = receiver.messages(2)
    assert wait_for_status(run.id, {FAILED}).status == FAILED
    assert failed.headers["Title"] == f"tuitune: run {run.id} (broken) failed" and failed.headers["Tags"] == "x"
    assert "missing.jsonl" in failed.body.decode()
    assert emptied.headers["Title"] == "tuitune: the queue is empty" and "1 failed" in emptied.body.decode()
    told(run.id, "the queue is empty")
    assert len(receiver.received) == 2


@pytest.mark.integration
@pytest.mark.slow
def test_a_sweep_sends_one_message_per_run_and_one_when_it_is_done(receiver: Receiver, demo_model_path: Path) -> None:
    queued = cli_json(
        "sweep", "--demo", "--max-steps", "1", "--max-length", "64",
        "--set", "training.learning_rate=1e-3,2e-3", "--notify", receiver.url,
    )  # fmt: skip
    ids = [run["id"] for run in queued["runs"]]
    messages = receiver.messages(3, timeout=400)
    kinds = [message.json()["event"] for message in messages]
    assert sorted(kinds) == ["run", "run", "sweep"], kinds
    assert sorted(m.json()["id"] for m in messages if m.json()["event"] == "run") == sorted(ids)
    (done,) = [m.json() for m in messages if m.json()["event"] == "sweep"]
    errors = [open_store().get_run(run_id).error for run_id in ids]
    assert done["sweep_id"] == queued["sweep_id"] and done["counts"] == {COMPLETED: 2}, errors
    wait_for(
        lambda: any("finished" in message for run_id in ids for message in events_of(run_id)),
        what="the sender's event on the run that ended the sweep",
    )
    assert len(receiver.received) == 3  # the sweep's message says the queue ran dry too


@pytest.mark.integration
@pytest.mark.slow
def test_a_receiver_that_is_down_fails_no_run(demo_model_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}/hook/{SECRET}"
    assert cli("notify", "set", down).returncode == 0
    done = cli_json("train", "--demo", "--max-steps", "2", "--max-length", "64")
    assert done["status"] == COMPLETED
    (event,) = told(done["run_id"], "failed after")
    assert event.startswith(f"Webhook {redact_url(down)} failed after 3 tries") and "refused" in event
    assert open_store().get_run(done["run_id"]).status == COMPLETED
    assert_secret_kept(event)


@pytest.mark.integration
def test_a_crashed_run_and_a_cancelled_queued_run_each_send_one(receiver: Receiver) -> None:
    store = open_store()
    store.set_setting(notify.DEFAULT_KEY, receiver.url)
    # A run whose worker is gone: a process that has already exited holds its pid.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    crashed = launcher.create_run(tiny("lost"), store=store)
    store.update_run(crashed.id, pid=gone.pid, host=socket.gethostname())
    store.set_status(crashed.id, RUNNING)
    store.heartbeat(crashed.id)
    assert check_alive(store.get_run(crashed.id), store=store).status == CRASHED
    assert check_alive(store.get_run(crashed.id), store=store).status == CRASHED  # looked at twice, told once
    queue.pause()
    waiting = queue.enqueue(tiny("waiting"))
    assert launcher.cancel(waiting, store=store).status == CANCELLED
    messages = receiver.messages(2)
    assert sorted(message.json()["status"] for message in messages) == [CANCELLED, CRASHED]
    told(crashed.id, "Notified webhook")
    told(waiting.id, "Notified webhook")
    assert len(receiver.received) == 2


@pytest.mark.integration
def test_the_server_sends_to_no_url_a_request_names(receiver: Receiver) -> None:
    with running_server() as url:
        refused = httpx.post(f"{url}/runs", json={"notify": {"webhook": receiver.url}})
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert "notify.webhook" in detail and "tuitune notify set URL" in detail and "\n" not in detail
        assert_secret_kept(detail)
        checked = httpx.post(f"{url}/config/check", json={"notify": {"webhook": receiver.url}})
        assert checked.status_code == 422 and "tuitune notify set" in checked.json()["detail"]
    assert open_store().count_runs() == 0 and receiver.received == []


# --- the bell --------------------------------------------------------------------------------
@pytest.mark.integration  # the app's crash detection looks after the queue
async def test_the_app_rings_the_bell_once_when_a_run_ends() -> None:
    import tuitune.tui.app
    from tuitune.tui.app import TuituneApp

    class CountingBells(TuituneApp):
        CSS_PATH = str(Path(tuitune.tui.app.__file__).with_name("app.tcss"))  # beside the app, not this test
        bells = 0

        def bell(self) -> None:
            self.bells += 1

    queue.pause()  # the run waits: active, and no worker starts
    run = queue.enqueue(tiny("heard"))
    app = CountingBells(mode="history", reconcile_seconds=0.05)
    async with app.run_test() as pilot:
        for _ in range(400):  # the first look sees the run active (bounded: 20 s)
            if app._active_runs:
                break
            await pilot.pause(0.05)
        assert app._active_runs == {run.id} and app.bells == 0
        open_store().set_status(run.id, CANCELLED)
        for _ in range(400):
            if app.bells:
                break
            await pilot.pause(0.05)
        assert app.bells == 1 and app._active_runs == set()
