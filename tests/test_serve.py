"""`tuitune serve`: a team starts and watches runs over HTTP — a real uvicorn server on a loopback
port, real demo runs, the same store as the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import cli_json, running_server, wait_for
from tuitune.client import Client, ClientError
from tuitune.store import CANCELLED, COMPLETED, open_store

pytestmark = pytest.mark.integration  # a real tuitune serve on a loopback port

TOKEN = "a-long-enough-test-token-1234"


def tiny_config(steps: int = 6, **training: object) -> dict:
    return {
        "name": "over-http",
        "method": "full_finetuning",
        "data": {"max_length": 64},
        "training": {"max_steps": steps, "logging_steps": 1, "save_steps": 1000, "learning_rate": 1e-3, **training},
    }


@pytest.mark.slow
def test_a_posted_run_streams_every_step_in_order_until_it_completes(demo_model_path: Path) -> None:
    with running_server() as url, Client(url) as client:
        created = client.create_run(tiny_config(steps=8))
        assert created["status"] == "queued" and created["urls"]["stream"] == f"/runs/{created['id']}/stream"
        kinds, steps, statuses = [], [], []
        for kind, data in client.stream(created["id"], timeout=300):
            kinds.append(kind)
            if kind == "point" and data["loss"] is not None:
                steps.append(data["step"])
            if kind == "status":
                statuses.append(data["status"])
        assert steps == list(range(1, 9)), steps  # every step, once, in order
        assert statuses[-1] == COMPLETED and "running" in statuses
        assert kinds[-1] == "end"
        run = client.run(created["id"])
        assert run["status"] == COMPLETED and run["metrics"]["points"] >= 8
        # The same run, seen by the CLI: the service owns no state of its own.
        assert cli_json("show", str(created["id"]))["status"] == COMPLETED
        assert [p["step"] for p in client.metrics(created["id"], after=5) if p["loss"] is not None] == [6, 7, 8]
        assert any("data:" in event["message"] for event in client.events(created["id"]))
        assert "completed" in client.log(created["id"], tail=3)


@pytest.mark.slow
def test_a_late_watcher_gets_the_history_first_and_many_watchers_see_the_same_steps(demo_model_path: Path) -> None:
    with running_server() as url, Client(url) as client:
        created = client.create_run(tiny_config(steps=12))
        wait_for(lambda: client.metrics(created["id"]), what="the first point")
        seen: list[list[int]] = []

        def watch() -> None:
            with Client(url) as mine:
                seen.append(
                    [
                        data["step"]
                        for kind, data in mine.stream(created["id"], timeout=300)
                        if kind == "point" and data["loss"] is not None
                    ]
                )

        watchers = [threading.Thread(target=watch) for _ in range(5)]
        for thread in watchers:
            thread.start()
        for thread in watchers:
            thread.join(timeout=300)
        assert len(seen) == 5 and all(steps == list(range(1, 13)) for steps in seen)


@pytest.mark.slow
def test_cancel_and_resume_through_the_api(demo_model_path: Path) -> None:
    with running_server() as url, Client(url) as client:
        created = client.create_run(tiny_config(steps=100_000, save_steps=3), queue=False)
        wait_for(lambda: any(p["step"] >= 4 for p in client.metrics(created["id"])), timeout=180, what="a checkpoint")
        with pytest.raises(ClientError) as refused:
            client.delete(created["id"])
        assert refused.value.status == 409 and "cancel it before deleting" in str(refused.value)
        client.cancel(created["id"])
        assert client.wait(created["id"], timeout=300)["status"] == CANCELLED
        stopped_at = client.run(created["id"])["steps_done"]
        client.resume(created["id"], max_steps=stopped_at + 3)
        final = client.wait(created["id"], timeout=300)
        assert final["status"] == COMPLETED and final["steps_done"] == stopped_at + 3


@pytest.mark.slow
def test_the_job_services_finetune_request_trains(demo_model_path: Path) -> None:
    body = {
        "model_name": "tuitune/demo",
        "dataset_name": "tuitune/sample",
        "max_seq_length": 64,
        "num_train_epochs": 1,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "learning_rate": 2e-4,
        "max_steps": 3,
        "warmup_steps": 0,
        "save_steps": 100,
        "logging_steps": 1,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
    }
    with running_server() as url:
        job = httpx.post(f"{url}/finetune", json=body, timeout=60).json()
        assert job["status"] == "queued" and job["model_name"] == "tuitune/demo"
        wait_for(
            lambda: httpx.get(f"{url}/jobs/{job['job_id']}").json()["status"] == COMPLETED, timeout=300, what="the job"
        )
        listed = httpx.get(f"{url}/jobs").json()
        assert listed[0]["job_id"] == job["job_id"] and listed[0]["progress"]["step"] == 3
        lines = httpx.get(f"{url}/logs/{job['job_id']}").text.splitlines()
        assert any('"level": "metrics"' in line for line in lines) and all(line.startswith("{") for line in lines)
        run = open_store().get_run(job["job_id"])
        assert run.method == "lora" and run.config["lora"]["r"] == 8 and run.config["data"]["max_length"] == 64
        assert httpx.get(f"{url}/dashboard", follow_redirects=False).status_code in (302, 307)


def test_bad_requests_get_4xx_with_the_clis_words(tmp_path: Path) -> None:
    outside = tmp_path.parent / "elsewhere.jsonl"
    with running_server() as url:
        bad = httpx.post(f"{url}/runs", json={"training": {"learning_rate": -1}})
        assert bad.status_code == 422
        assert bad.json() == {
            "detail": "training.learning_rate in request: Input should be greater than 0 (got -1).",
            "error": "InvalidConfigError",
            "field": "training.learning_rate",
        }
        unknown = httpx.post(f"{url}/runs", json={"trainng": {}})
        assert unknown.status_code == 422 and "Did you mean 'training'?" in unknown.json()["detail"]
        escaped = httpx.post(f"{url}/runs", json={"data": {"source": str(outside)}})
        assert escaped.status_code == 422 and "outside the folders this server may use" in escaped.json()["detail"]
        secret = httpx.post(f"{url}/runs", json={"data": {"source": "/etc/passwd"}})
        assert secret.status_code == 422
        writes = httpx.post(f"{url}/runs", json={"training": {"output_dir": "/tmp/anywhere"}})
        assert writes.status_code == 422 and "training.output_dir" in writes.json()["detail"]
        assert httpx.get(f"{url}/runs/999").status_code == 404
        huge = httpx.post(
            f"{url}/runs", content=b"{" + b" " * 2_000_000 + b"}", headers={"content-type": "application/json"}
        )
        assert huge.status_code == 413
        page = httpx.get(f"{url}/runs", params={"limit": 100_000}).json()
        assert page["limit"] == 500
        assert httpx.get(f"{url}/runs", params={"status": "bogus"}).status_code == 422
    assert open_store().count_runs() == 0


def test_a_token_is_required_on_every_data_route_and_the_stream(tuitune_home: Path) -> None:
    run = open_store().create_run(name="r", config={}, model="m", method="lora", dataset="d")
    with running_server("--token", TOKEN) as url:
        for method, path in (
            ("GET", "/runs"),
            ("GET", f"/runs/{run.id}"),
            ("GET", f"/runs/{run.id}/stream"),
            ("GET", "/queue"),
            ("GET", "/system"),
            ("POST", "/runs"),
            ("GET", "/jobs"),
            ("POST", "/finetune"),
        ):
            assert httpx.request(method, f"{url}{path}", timeout=10).status_code == 401, path
            wrong = httpx.request(
                method, f"{url}{path}", headers={"Authorization": "Bearer wrong-token-0000000000"}, timeout=10
            )
            assert wrong.status_code == 401, path
        assert httpx.get(f"{url}/health").json()["token_required"] is True
        # The page asks for the token itself: its addresses answer without one.
        page = httpx.get(f"{url}/dashboard", follow_redirects=True)
        assert page.status_code == 200 and "<html" in page.text.lower()
        with Client(url, token=TOKEN) as client:
            assert [entry["id"] for entry in client.runs()] == [run.id]
            assert client.queue()["slots"] >= 1 and "memory" in client.system()


def test_a_non_loopback_address_always_gets_a_token() -> None:
    from tuitune.serve.settings import is_loopback, token_for

    token, generated = token_for("0.0.0.0", None)
    assert generated and token and len(token) >= 32
    assert token_for("127.0.0.1", None) == (None, False)
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("10.0.0.5")


def test_tuitune_web_refuses_a_public_address_without_saying_it_is_insecure() -> None:
    from tests.helpers import assert_one_line_error, cli

    assert_one_line_error(cli("web", "--host", "0.0.0.0"), "no login of its own", "--insecure-no-auth", code=2)


def test_queue_pause_and_system_through_the_api(tuitune_home: Path) -> None:
    with running_server() as url, Client(url) as client:
        assert client.pause(True) == {"paused": True, "started": []}
        created = client.create_run(tiny_config())
        assert client.queue()["queued"][0]["id"] == created["id"] and client.queue()["paused"] is True
        assert client.run(created["id"])["in_queue"] is True
        client.cancel(created["id"])
        assert client.run(created["id"])["status"] == CANCELLED and client.queue()["queued"] == []


def test_cancelling_a_waiting_job_says_it_is_simply_cancelled(tuitune_home: Path) -> None:
    with running_server() as url, Client(url) as client:
        client.pause(True)
        created = client.create_run(tiny_config())
        answer = httpx.delete(f"{url}/jobs/{created['id']}", headers={"X-Tuitune-Client": "1"}).json()
        assert answer["status"] == CANCELLED
        # Nothing was training: no step to finish, no checkpoint to save.
        assert answer["message"] == f"Job {created['id']} was cancelled before it started: nothing had trained."


def test_a_reconnecting_client_misses_nothing_and_gets_nothing_twice(tuitune_home: Path) -> None:
    store = open_store()
    run = store.create_run(name="r", config={}, model="m", method="lora", dataset="d")
    store.add_metric_points(run.id, [{"step": step, "loss": 1.0} for step in (1, 2, 3)])
    store.add_event(run.id, "middle")
    store.set_status(run.id, COMPLETED)
    with running_server() as url:

        def ids(last: str | None) -> list[str]:
            headers = {"Last-Event-ID": last} if last else {}
            with httpx.stream("GET", f"{url}/runs/{run.id}/stream", headers=headers, timeout=30) as response:
                return [line[3:].strip() for line in response.iter_lines() if line.startswith("id:")]

        everything = ids(None)
        assert len(everything) == 3 + len(store.events(run.id))
        # Break after the second message: the rest comes once, with nothing before it.
        assert ids(everything[1]) == everything[2:]
        assert ids(everything[-1]) == []
        response = httpx.get(f"{url}/runs")
        assert (
            response.headers["x-frame-options"] == "DENY"
            and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        )
