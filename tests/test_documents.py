"""A run is one document, whichever face shows it: `tuitune show --json`, `GET /runs/{id}`, the
live stream, the listings, the comparison and the job service all say the same about the same run;
and `/openapi.json` says what every route answers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.helpers import cli_json, running_server, wait_for
from tuitune.client import Client
from tuitune.runs.documents import MetricPointDocument, Progress, RunDocument, RunReportWithUrls
from tuitune.store import COMPLETED, MetricPoint, Run
from tuitune.store.rows import ARTIFACTS, EVALUATIONS, EVENTS, METRIC_POINTS, RUNS
from tuitune.store.tables import ArtifactRow, EvaluationRow, EventRow, MetricPointRow, RunRow

# The pages of the dashboard and the API's own docs: not part of the API, left out of /openapi.json.
PAGES = {"/", "/dashboard", "/docs"}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    name = reference.removeprefix("#/components/schemas/")
    assert name in spec["components"]["schemas"], reference
    return spec["components"]["schemas"][name]


def test_every_route_says_in_openapi_what_it_answers(tuitune_home: Path) -> None:
    from fastapi.routing import APIRoute

    from tuitune.serve.app import create_app

    app = create_app()
    spec = app.openapi()
    documented = {(path, method.upper()) for path, operations in spec["paths"].items() for method in operations}
    # Every route of the API is in the document (none hidden), every page is not.
    for route in app.routes:
        if isinstance(route, APIRoute):
            assert route.methods, route.path
            for method in route.methods:
                assert ((route.path, method) in documented) == (route.path not in PAGES), (route.path, method)
    assert len(documented) >= 23
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = {code: response for code, response in operation["responses"].items() if code.startswith("2")}
            assert answers, f"{method.upper()} {path} declares no 2xx answer"
            for code, response in answers.items():
                where = f"{method.upper()} {path} {code}"
                assert response.get("description"), where
                assert response.get("content"), f"{where}: no content declared"
                for media_type, content in response["content"].items():
                    schema = _resolve(content.get("schema", {}), spec)
                    assert schema and schema != {}, f"{where} {media_type}: an empty schema"
                    if media_type == "application/json":
                        # An object with its fields, or a list of such objects.
                        item = _resolve(schema["items"], spec) if schema.get("type") == "array" else schema
                        assert item.get("properties"), f"{where}: a JSON answer without fields"
                    else:
                        assert schema.get("type") == "string", where  # a stream or a text
                        if "itemSchema" in content:
                            assert _resolve(content["itemSchema"], spec).get("properties"), where
    stream = spec["paths"]["/runs/{run_id}/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert stream["itemSchema"] == {"$ref": "#/components/schemas/StreamMessage"}
    assert "application/x-ndjson" in spec["paths"]["/logs/{job_id}"]["get"]["responses"]["200"]["content"]


def test_the_store_reads_every_column_of_its_tables_into_its_records() -> None:
    for reading, table in (
        (RUNS, RunRow),
        (METRIC_POINTS, MetricPointRow),
        (EVENTS, EventRow),
        (EVALUATIONS, EvaluationRow),
        (ARTIFACTS, ArtifactRow),
    ):
        assert {column.column_name for column in reading.columns} == set(table._meta.columns), table


def test_the_documents_say_what_the_records_hold() -> None:
    # A metric point's document has the record's fields, in the record's order.
    assert list(MetricPointDocument.model_fields) == [item.name for item in dataclasses.fields(MetricPoint)]
    # A run's progress is part of its document; the document has every field of the record (the
    # GPUs it asked for under the name the faces have always used, the config parsed) and the
    # properties the faces show.
    assert set(Progress.model_fields) < set(RunDocument.model_fields)
    record = {item.name for item in dataclasses.fields(Run)} - {
        "gpus",
        "config_json",
        "lineage_json",
        "slurm_json",
        "queue_position",
    }
    # A SLURM run's job, as a document and in one line.
    derived = {"requested_gpus", "config", "lineage", "slurm", "slurm_words", "in_queue", "duration_seconds"}
    assert record | derived == set(RunDocument.model_fields)
    # What is read from the config, for every face: the objective (sft for runs from before objectives).
    assert set(RunDocument.model_computed_fields) == {"objective"}


def _gone(pid: int | None) -> bool:
    """No process `pid`, or one that has exited (a zombie its parent, the server, has not reaped)."""
    try:
        return pid is None or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_run_is_the_same_document_in_show_the_service_the_stream_the_listings_and_the_comparison(
    demo_model_path: Path,
) -> None:
    config = {
        "name": "one-document",
        "method": "full_finetuning",
        "data": {"max_length": 64},
        "training": {"max_steps": 4, "logging_steps": 1, "save_steps": 1000, "learning_rate": 1e-3},
    }
    with running_server() as url, Client(url) as client:
        created = client.create_run(config)
        statuses = [data for kind, data in client.stream(created["id"], timeout=300) if kind in ("status", "end")]
        served = client.run(created["id"])
        assert served["status"] == COMPLETED
        # Nothing writes to the run once its worker is gone: every face reads the same rows.
        wait_for(lambda: _gone(served["pid"]), what="the worker to exit")
        served = client.run(created["id"])
        RunReportWithUrls.model_validate(served)
        listed = next(run for run in client.runs() if run["id"] == created["id"])
        job = httpx.get(f"{url}/jobs/{created['id']}", timeout=30).json()
        other = client.create_run({**config, "name": "another"})  # a second run to compare with
        client.cancel(other["id"])
        comparison = cli_json("compare", str(created["id"]), str(other["id"]))

    shown = cli_json("show", str(created["id"]))
    # `tuitune show --json` and `GET /runs/{id}`: one document (the service adds its addresses).
    assert served.pop("urls")["stream"] == f"/runs/{created['id']}/stream"
    assert shown == served
    # The stream's last status and its end: the run's progress, as the document says it.
    progress = {name: shown[name] for name in Progress.model_fields}
    assert statuses[-1] == statuses[-2] == progress
    assert progress["steps_done"] == 4 and progress["finished_at"] is not None
    # Listed by `tuitune runs --json` and `GET /runs`: the same run, with its (empty) place in the queue.
    document = {name: shown[name] for name in [*RunDocument.model_fields, *RunDocument.model_computed_fields]}
    in_list = next(run for run in cli_json("runs") if run["id"] == created["id"])
    assert in_list == listed == {**document, "queue_place": None}
    # The comparison's column and the job service's words for it.
    column = comparison["runs"][0]
    assert (column["run_id"], column["steps"], column["status"]) == (shown["id"], shown["steps_done"], COMPLETED)
    assert column["train_loss"] == (shown["train_loss"] if shown["train_loss"] is not None else shown["last_loss"])
    assert (column["duration_seconds"], column["tokens_per_second"]) == (
        shown["duration_seconds"],
        shown["tokens_per_second"],
    )
    assert (job["job_id"], job["progress"]["step"], job["loss"]) == (shown["id"], 4, shown["last_loss"])
    assert (job["created_at"], job["finished_at"]) == (shown["created_at"], shown["finished_at"])
