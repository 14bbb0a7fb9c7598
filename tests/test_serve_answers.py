"""What the service answers, read from a real `tuitune serve`: `/openapi.json` declares every
route's document and each refusal it can give (an `ErrorDocument`), and the refusals it gives are
those; the queue (its line, pausing it, moving a run) and cancelling answer the same documents
from the CLI and the routes, both acting through the one run service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import assert_one_line_error, cli, cli_json, running_server
from tuitune.config import ConfigBuilder
from tuitune.runs.documents import (
    CancelledRuns,
    ErrorDocument,
    QueueDocument,
    QueueMove,
    QueuePause,
    RunCancelled,
    RunInBackground,
    run_in_background,
)
from tuitune.service.runs import RunService
from tuitune.store import CANCELLED, COMPLETED, Run, open_store

pytestmark = pytest.mark.integration  # a real tuitune serve on a loopback port; the CLI as a process

TOKEN = "a-long-enough-test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Tuitune-Client": "1"}
# Asks for no token and stands behind no same-site check: only the Host check can refuse it.
UNGUARDED = {"/health"}
# The routes that act on a run whose state may forbid it (a RunStateError: 409).
STATEFUL = {
    ("POST", "/runs/{run_id}/cancel"),
    ("POST", "/runs/{run_id}/resume"),
    ("POST", "/runs/{run_id}/evaluate"),
    ("POST", "/runs/{run_id}/merge"),
    ("POST", "/runs/{run_id}/export"),
    ("POST", "/runs/{run_id}/upload"),
    ("DELETE", "/runs/{run_id}"),
    ("DELETE", "/jobs/{job_id}"),
}
ERROR_DOCUMENT = {"$ref": "#/components/schemas/ErrorDocument"}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    name = reference.removeprefix("#/components/schemas/")
    assert name in spec["components"]["schemas"], reference
    return spec["components"]["schemas"][name]


def _waiting(name: str) -> Run:
    """A demo run added to the (paused) queue through the service."""
    config = ConfigBuilder().demo().name(name).method("full_finetuning").training(max_steps=2).build()
    return RunService().enqueue(config)


def test_openapi_declares_every_routes_document_and_each_refusal_and_the_service_refuses_only_so(
    tuitune_home: Path,
) -> None:
    store = open_store()
    done = store.create_run(name="done", config={}, model="m", method="lora", dataset="d")
    store.set_status(done.id, COMPLETED)
    with running_server("--token", TOKEN) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
        assert "HTTPValidationError" not in str(spec), "a 422 described as FastAPI's, which this service never sends"
        error = spec["components"]["schemas"]["ErrorDocument"]
        assert error["required"] == ["detail"] and set(error["properties"]) == {"detail", "error", "field"}
        operations = [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
        assert len(operations) >= 24
        for method, path, operation in operations:
            where = f"{method} {path}"
            answers = operation["responses"]
            # Its success document: a named model (or a list of them), or a text or a stream of items.
            success = [code for code in answers if code.startswith("2")]
            assert len(success) == 1, where
            for media_type, content in answers[success[0]]["content"].items():
                schema = content["schema"]
                if media_type == "application/json":
                    named = schema["items"] if schema.get("type") == "array" else schema
                    assert named.get("$ref", "").startswith("#/components/schemas/"), f"{where}: no model"
                    assert _resolve(named, spec).get("properties"), where
                else:
                    assert schema.get("type") == "string", where
            # Each refusal it can give, as the error document.
            refusals = {int(code) for code in answers if not code.startswith("2")}
            expected = {400} if path in UNGUARDED else {400, 401, 403}
            if "{" in path:
                expected |= {404, 422}
            if operation.get("parameters") or "requestBody" in operation:
                expected.add(422)
            if "requestBody" in operation:
                expected.add(413)
            if (method, path) in STATEFUL:
                expected.add(409)
            assert expected <= refusals, f"{where} does not declare {sorted(expected - refusals)}"
            for code in refusals:
                answer = answers[str(code)]
                assert answer["description"], f"{where} {code}"
                assert answer["content"] == {"application/json": {"schema": ERROR_DOCUMENT}}, f"{where} {code}"

        def declared(method: str, path: str, code: int) -> bool:
            return str(code) in spec["paths"][path][method.lower()]["responses"]

        # The refusals a client meets are those declared for the route, each an error document.
        for method, path, concrete, headers, status in (
            ("GET", "/runs", "/runs", {}, 401),
            ("GET", "/runs", "/runs", {**AUTH, "Host": "elsewhere.example"}, 400),
            ("GET", "/runs", "/runs", {**AUTH, "Origin": "http://elsewhere.example"}, 403),
            ("GET", "/runs", "/runs?status=bogus", AUTH, 422),
            ("GET", "/runs/{run_id}", "/runs/999", AUTH, 404),
            ("GET", "/runs/{run_id}", "/runs/seven", AUTH, 422),
            ("POST", "/runs/{run_id}/cancel", f"/runs/{done.id}/cancel", AUTH, 409),
            ("DELETE", "/jobs/{job_id}", f"/jobs/{done.id}", AUTH, 409),
            ("GET", "/tasks/{task_id}", "/tasks/5", AUTH, 404),
            ("GET", "/health", "/health", {"Host": "elsewhere.example"}, 400),
        ):
            answer = httpx.request(method, f"{url}{concrete}", headers=headers)
            assert answer.status_code == status, (concrete, answer.text)
            assert declared(method, path, status), f"{method} {path} gave an undeclared {status}"
            refusal = ErrorDocument.model_validate(answer.json())
            assert refusal.detail and "\n" not in refusal.detail
        huge = httpx.post(
            f"{url}/runs", content=b"{" + b" " * 2_000_000 + b"}", headers={**AUTH, "content-type": "application/json"}
        )
        assert huge.status_code == 413 and declared("POST", "/runs", 413)
        assert ErrorDocument.model_validate(huge.json()).error == "TooLarge"
        bad = httpx.post(f"{url}/runs", json={"training": {"learning_rate": -1}}, headers=AUTH)
        assert bad.status_code == 422
        assert ErrorDocument.model_validate(bad.json()).field == "training.learning_rate"


def test_the_queue_and_cancelling_answer_one_document_from_the_cli_the_service_and_the_routes(
    tuitune_home: Path,
) -> None:
    with running_server() as url:
        # Pausing: the CLI prints what the route answers.
        paused = cli_json("queue", "pause")
        assert paused == QueuePause(paused=True, started=[]).model_dump(mode="json")
        assert httpx.post(f"{url}/queue/pause", json={"paused": True}).json() == paused
        first, second = _waiting("first"), _waiting("second")
        assert first.in_queue and second.in_queue
        # The line, as the CLI, the route and the service (in this process) read it.
        moved = cli_json("queue", "move", "second", "--to", "1")
        assert moved == QueueMove(id=second.id, position=1).model_dump(mode="json")
        listed = cli_json("queue")
        assert httpx.get(f"{url}/queue").json() == listed
        assert QueueDocument.model_validate(listed) == RunService().queue_document()
        assert listed["paused"] is True and listed["slots"] >= 1 and listed["running"] == []
        assert [(entry["position"], entry["id"], entry["name"]) for entry in listed["queued"]] == [
            (1, second.id, "second"),
            (2, first.id, "first"),
        ]
        assert listed["queued"][0]["created_at"] == second.created_at.isoformat()
        # The slots, set through the service: the route reads what the CLI set.
        assert cli_json("queue", "--slots", "3")["slots"] == 3 == httpx.get(f"{url}/system").json()["slots"]
        assert_one_line_error(cli("queue", "--slots", "many"), "--slots takes a number from 1 to 64", code=2)
        assert_one_line_error(cli("queue", "--slots", "0"), "--slots must be between 1 and 64", code=2)
        assert cli_json("queue", "--slots", "auto")["slots"] == listed["slots"]
        # Cancelling one waiting run, then the rest of the line.
        cancelled = cli_json("cancel", "second")
        assert cancelled == {"run_id": second.id, "status": CANCELLED, "cancel_requested": True}
        assert RunCancelled.model_validate(cancelled).run_id == second.id
        rest = CancelledRuns.model_validate(cli_json("cancel", "--queued"))
        assert rest.sweep_id is None
        assert [(run.run_id, run.name, run.status, run.was_queued) for run in rest.cancelled] == [
            (first.id, "first", CANCELLED, True)
        ]
        assert httpx.get(f"{url}/queue").json()["queued"] == []
        # A cancelled run resumed into the paused queue: it waits there, with no worker yet.
        answer = cli_json("resume", "first", "--queue")
        resumed = RunInBackground.model_validate(answer)
        assert (resumed.run_id, resumed.in_queue, resumed.pid, resumed.queue_place) == (first.id, True, None, 1)
        # `train --queue` answers the same document, and nothing else.
        trained = cli_json("train", "--demo", "--queue", "--max-steps", "2", "--name", "third")
        third = RunService().get_run(trained["run_id"])
        assert trained == run_in_background(third, (2, 2)).model_dump(mode="json")
        assert answer == run_in_background(RunService().get_run(first.id), (1, 2)).model_dump(mode="json")
        assert trained["output_dir"] == third.output_dir and trained["in_queue"] is True
        assert [entry["id"] for entry in httpx.get(f"{url}/queue").json()["queued"]] == [first.id, third.id]
