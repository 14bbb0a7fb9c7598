"""Telling someone a run ended: one message to a webhook per ending, and one when a sweep's last
run ends or the queue runs dry.

Where it goes, first found: the run's `notify.webhook`, the `--notify URL` it was started with,
its sweep's `--notify URL`, the store-wide default (`tuitune notify set URL`). The URLs given on
the command line are kept in the store's settings, not in the run's configuration: config.yaml is
copied, shared and shown (`tuitune show`, the dashboard, compare), and a webhook's URL is its
password.

`run_ended` is called wherever a run reaches a final status (the worker as it exits, crash
detection, cancelling a queued run, a worker that could not start); each ending is claimed in the
store once, so any number of callers send one message. The sending itself is a detached child
(`tuitune.runs.notify_send`): the worker's exit and the run's status never wait on the network,
and a receiver that is down fails nothing. Light: the store and the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tuitune.config import ENDINGS
from tuitune.errors import TuituneError, UsageError
from tuitune.locations import check_webhook_url, redact_url
from tuitune.store import ACTIVE, FINISHED, Run, Store
from tuitune.store.run_queue import LEFT_QUEUE
from tuitune.system import paths
from tuitune.system.child import child_environment, python_command

DEFAULT_KEY = "notify.webhook"  # the store-wide default URL
DEFAULT_STYLE_KEY = "notify.style"
STYLES = ("json", "slack", "ntfy")
SENDER_MODULE = "tuitune.runs.notify_send"


def run_key(run_id: int) -> str:
    """The setting holding the `--notify URL` a run was started with."""
    return f"notify.webhook.run.{run_id}"


def sweep_key(sweep_id: int) -> str:
    """The setting holding the `--notify URL` a sweep was queued with."""
    return f"notify.webhook.sweep.{sweep_id}"


@dataclass(frozen=True)
class Target:
    """Where a run's messages go, in what shape, for which endings."""

    url: str
    style: str
    on: tuple[str, ...] = ENDINGS


@dataclass(frozen=True)
class Message:
    """What happened, in words (title, text) and as a document (the "json" style's body)."""

    kind: str  # run, sweep, queue
    ending: str  # completed, failed, cancelled, crashed, sweep, queue
    title: str
    text: str
    document: dict[str, Any]


def checked_url(url: str, given_as: str = "--notify") -> str:
    """A webhook URL given on the command line, checked as `notify.webhook` is (UsageError, with the
    URL said by its host alone, when it is not one)."""
    try:
        return check_webhook_url(url.strip())
    except ValueError as problem:
        raise UsageError(f"{given_as} {redact_url(url)}: {problem}.") from None


def remember(key: str, url: str | None, store: Store) -> None:
    """Keep a `--notify URL` for a run or a sweep (`run_key`, `sweep_key`) in the store's settings.

    Written just after the run is recorded and its worker started: a worker takes seconds to import
    the training stack before anything can end, and a run that ends first is told to the default."""
    if url:
        store.set_setting(key, url)


def style_of(url: str, style: str | None = None) -> str:
    """The body's shape: the one asked for, else read from the URL (Slack's and ntfy's hosts)."""
    if style and style != "auto":
        return style
    host = (urlsplit(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host.startswith("ntfy.") or ".ntfy." in host or "ntfy" in host.split("."):
        return "ntfy"
    return "json"


def target_for(run: Run, store: Store) -> Target | None:
    """Where this run's messages go, or None when nobody asked for any."""
    notify = run.config.get("notify") or {}
    style = notify.get("style") or "auto"
    on = tuple(notify.get("on") or ENDINGS)
    url = notify.get("webhook") or store.setting(run_key(run.id))
    if not url and run.sweep_id is not None:
        url = store.setting(sweep_key(run.sweep_id))
    if not url:
        url = store.setting(DEFAULT_KEY)
        if url and style == "auto":
            style = store.setting(DEFAULT_STYLE_KEY) or "auto"
    return Target(url, style_of(url, style), on) if url else None


# --- what a message says --------------------------------------------------------------------------
def run_document(run: Run) -> dict[str, Any]:
    """The run's summary as the "json" style sends it."""
    config = run.config
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "model": run.model,
        "method": run.method,
        "objective": config.get("objective", "sft"),
        "dataset": run.dataset,
        "steps_done": run.steps_done,
        "steps_total": run.steps_total,
        "epoch": run.epoch,
        "train_loss": run.train_loss if run.train_loss is not None else run.last_loss,
        "eval_loss": run.last_eval_loss,
        "best_eval_loss": run.best_eval_loss,
        "duration_seconds": run.duration_seconds,
        "error": run.error,
        "output_dir": run.output_dir,
        "sweep_id": run.sweep_id,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def run_message(run: Run) -> Message:
    document = run_document(run)
    steps = f"{run.steps_done}/{run.steps_total}" if run.steps_total else str(run.steps_done)
    text = (
        f"{run.model} · {run.method} · {document['objective']} · {steps} steps · "
        f"train loss {_number(document['train_loss'])} · eval loss {_number(run.last_eval_loss)} · "
        f"{_duration(run.duration_seconds)}"
    )
    if run.error:
        text += f"\n{run.error}"
    if run.output_dir:
        text += f"\n{run.output_dir}"
    return Message("run", run.status, f"tuitune: run {run.id} ({run.name}) {run.status}", text, document)


def _counts(runs: list[Run]) -> dict[str, int]:
    return dict(sorted(Counter(run.status for run in runs).items()))


def _said(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in counts.items()) or "no runs"


def sweep_message(sweep_id: int, name: str, runs: list[Run]) -> Message:
    counts = _counts(runs)
    document = {"sweep_id": sweep_id, "name": name, "runs": len(runs), "counts": counts}
    losses = [
        (loss, run)
        for run in runs
        if (loss := run.best_eval_loss if run.best_eval_loss is not None else run.last_eval_loss) is not None
    ]
    text = f"{len(runs)} runs: {_said(counts)}"
    if losses:
        loss, top = min(losses, key=lambda pair: pair[0])
        document["best"] = {"id": top.id, "name": top.name, "eval_loss": loss}
        text += f" · best eval loss {_number(loss)}: run {top.id} ({top.name})"
    return Message("sweep", "sweep", f"tuitune: sweep {sweep_id} ({name}) finished", text, document)


def queue_message(runs: list[Run]) -> Message:
    counts = _counts(runs)
    document = {"runs": len(runs), "counts": counts}
    text = f"Since it last ran dry: {len(runs)} runs, {_said(counts)}"
    return Message("queue", "queue", "tuitune: the queue is empty", text, document)


# --- the bodies each style sends -----------------------------------------------------------------
_NTFY_TAGS = {
    "completed": "white_check_mark",
    "failed": "x",
    "crashed": "boom",
    "cancelled": "warning",
    "sweep": "checkered_flag",
    "queue": "inbox_tray",
}


def request_for(message: Message, style: str) -> tuple[dict[str, str], bytes]:
    """The headers and body of the POST for `style`: ours (json), Slack's ({"text"}) or ntfy's
    (plain text, with Title and Tags headers: docs.ntfy.sh/publish)."""
    if style == "slack":
        return {"Content-Type": "application/json"}, json.dumps({"text": f"*{message.title}*\n{message.text}"}).encode()
    if style == "ntfy":
        # HTTP headers are Latin-1: the title goes as ASCII (a run's name may hold any letter).
        title = message.title.encode("ascii", "replace").decode("ascii")
        headers = {"Content-Type": "text/plain; charset=utf-8", "Title": title, "Tags": _NTFY_TAGS[message.ending]}
        if message.ending in ("failed", "crashed"):
            headers["Priority"] = "high"
        return headers, message.text.encode("utf-8")
    body = {"event": message.kind, "ending": message.ending, "title": message.title, "text": message.text}
    return {"Content-Type": "application/json"}, json.dumps({**body, **message.document}).encode("utf-8")


# --- once per ending -------------------------------------------------------------------------
def _left_the_queue(run: Run, store: Store) -> bool:
    return any(event.message.startswith(LEFT_QUEUE) for event in store.events(run.id, limit=200))


def _queue_is_dry(store: Store) -> bool:
    return not store.active_runs()


def messages_for(run: Run, store: Store, target: Target) -> list[Message]:
    """What this ending says: the run's own message, and the sweep's or the queue's end it makes."""
    stamp = run.finished_at.isoformat() if run.finished_at else ""
    if not store.claim_setting(f"notify.ended.{run.id}", stamp):
        return []  # another process told of this ending already
    messages = [run_message(run)] if run.status in target.on else []
    if run.sweep_id is not None:
        runs = store.list_runs(sweep_id=run.sweep_id)
        finished = bool(runs) and all(other.status in FINISHED for other in runs)
        if finished and store.claim_setting(f"notify.sweep_done.{run.sweep_id}", str(max(o.id for o in runs))):
            if "sweep" in target.on:
                messages.append(sweep_message(run.sweep_id, store.get_sweep(run.sweep_id).name, runs))
            return messages  # its last run also empties the queue, most often: one message says it
    if _left_the_queue(run, store) and _queue_is_dry(store):
        # Claimed by the newest run in the store: a queue that fills and runs dry again says so again.
        newest = store.list_runs(limit=1)
        last = store.setting("notify.queue_empty")
        if newest and store.claim_setting("notify.queue_empty", str(newest[0].id)) and "queue" in target.on:
            since = int(last) if last and last.isdigit() else 0
            messages.append(queue_message([other for other in store.list_runs() if other.id > since]))
    return messages


def run_ended(run_id: int, store: Store) -> None:
    """Send the messages a run's ending makes, from a detached child; never raises: a message is a
    side job, and the run's status is already recorded."""
    if os.environ.get(paths.STORE_ENV):
        return  # a SLURM job's own scratch store: the login node tells, once it has folded the end in
    try:
        run = store.get_run(run_id)
        if run.status in ACTIVE:
            return
        target = target_for(run, store)
        if target is None:
            return
        messages = messages_for(run, store, target)
        if messages:
            send_detached(run.id, target, messages)
    except (TuituneError, OSError, ValueError) as error:
        try:
            store.add_event(run_id, f"Could not send the run's notification: {error}", "warning")
        except TuituneError:
            pass


# Started senders, kept so they are reaped (and not reported as left running) once they finish.
_SENDERS: list[subprocess.Popen[bytes]] = []


def send_detached(run_id: int, target: Target, messages: list[Message]) -> None:
    """Hand the messages to a sender child in its own session; the URL travels on its stdin, not in
    its command line (which `ps` shows to every user of the machine)."""
    _SENDERS[:] = [sender for sender in _SENDERS if sender.poll() is None]
    deliveries = []
    for message in messages:
        headers, body = request_for(message, target.style)
        deliveries.append({"what": message.title.removeprefix("tuitune: "), "headers": headers, "body": body.hex()})
    payload = json.dumps({"run_id": run_id, "url": target.url, "deliveries": deliveries}).encode()
    sender = subprocess.Popen(
        python_command(SENDER_MODULE),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_environment(),
        start_new_session=True,
        close_fds=True,
    )
    assert sender.stdin is not None
    with sender.stdin:
        sender.stdin.write(payload)
    _SENDERS.append(sender)


def shown(url: str | None) -> str:
    """A webhook as every face shows it (its host only)."""
    return redact_url(url) if url else "none"
