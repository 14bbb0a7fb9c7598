"""`/config/*` and `/files`: what the dashboard's new-run form is built from and checked against.

The form is generated from the configuration's own JSON schema (the pydantic models the CLI and
the wizard read), so limits, choices, defaults and help are declared once; a configuration is
checked here exactly as `POST /runs` checks it, and files are listed only under the data roots.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tuitune.bundled import DEMO_MODEL, SAMPLE_DATASETS
from tuitune.config import (
    MAX_CONFIG_BYTES,
    OBJECTIVE_FORMATS,
    OBJECTIVES,
    UNUSED_BY_METHOD,
    UNUSED_BY_OBJECTIVE,
    RunConfig,
    config_from_text,
    demo_dataset,
)
from tuitune.locations import DATA_FILE_SUFFIXES
from tuitune.serve.file_choices import FileChoices, file_choices
from tuitune.serve.guard import check_config, checked_config, policy_of
from tuitune.serve.routes.refusals import refusals
from tuitune.system.paths import slug

router = APIRouter(tags=["configurations"])


class FormSchema(BaseModel):
    """`GET /config/schema`: the run configuration's JSON schema, and what a form needs beside it,
    each read from the code that uses it."""

    run_schema: dict[str, Any] = Field(
        alias="schema", description="`RunConfig`'s JSON schema: sections, choices, limits, defaults, descriptions."
    )
    demo_model: str = Field(description="The built-in demo model's name (trains in seconds on a CPU).")
    samples: list[str] = Field(description="The bundled sample datasets' names.")
    demo_datasets: dict[str, str] = Field(description="The bundled set each objective's demo learns from.")
    objective_formats: dict[str, list[str]] = Field(description="The data formats each objective learns from.")
    unused_by_method: dict[str, list[str]] = Field(
        description="The settings (sections, or section.key) each method does not read."
    )
    unused_by_objective: dict[str, list[str]] = Field(
        description="The settings (sections, or section.key) each objective does not read."
    )
    data_suffixes: list[str] = Field(description="The data files tuitune reads, by suffix.")
    max_config_bytes: int = Field(description="The largest config file `POST /config/parse` reads.")

    model_config = {"populate_by_name": True}


class CheckedConfig(BaseModel):
    """A configuration as `POST /runs` would take it, with what validation changed on the user's behalf."""

    config: dict[str, Any] = Field(description="The normalized configuration: every key, defaults filled in.")
    notes: list[str] = Field(description="What validation adjusted (e.g. qlora turning on 4-bit loading).")


class ConfigText(BaseModel):
    """A config file's text, as `tuitune train --config FILE` reads one."""

    text: str = Field(description="The file's YAML (or JSON) text.")
    filename: str | None = Field(
        None, max_length=255, description="The file's name: JSON when it ends in .json, else YAML."
    )


def _answer(config: RunConfig) -> CheckedConfig:
    return CheckedConfig(config=config.to_dict(), notes=config.notes)


@router.get("/config/schema", summary="The run configuration's JSON schema, for a form built from it")
def schema() -> FormSchema:
    return FormSchema(
        run_schema=RunConfig.model_json_schema(),
        demo_model=DEMO_MODEL,
        samples=list(SAMPLE_DATASETS),
        demo_datasets={objective: demo_dataset(objective) for objective in OBJECTIVES},
        objective_formats={key: list(value) for key, value in OBJECTIVE_FORMATS.items()},
        unused_by_method={key: list(value) for key, value in UNUSED_BY_METHOD.items()},
        unused_by_objective={key: list(value) for key, value in UNUSED_BY_OBJECTIVE.items()},
        data_suffixes=list(DATA_FILE_SUFFIXES),
        max_config_bytes=MAX_CONFIG_BYTES,
    )


CONFIG_BODY = Body(..., description="A run configuration: the same schema as a config file.")


@router.post(
    "/config/check",
    summary="Check a configuration as `POST /runs` would, without starting anything",
    responses=refusals(413, 422),
)
def check(request: Request, config: dict[str, Any] = CONFIG_BODY) -> CheckedConfig:
    return _answer(checked_config(request, config))


@router.post(
    "/config/yaml",
    summary="A checked configuration as a config file (YAML) to download",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}, **refusals(413, 422)},
)
def as_yaml(request: Request, config: dict[str, Any] = CONFIG_BODY) -> Response:
    run = checked_config(request, config)
    # A name made safe for a file name (no quote, slash or newline can reach the header).
    filename = f"{slug(run.name or 'run')}.yaml"
    return Response(
        run.to_yaml(),
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/config/parse",
    summary="Read a config file's text (YAML or JSON) as `tuitune train --config FILE` does, then check it",
    responses=refusals(413, 422),
)
def parse(request: Request, body: ConfigText) -> CheckedConfig:
    shown = body.filename or "the uploaded file"
    config = config_from_text(body.text, shown, json_file=(body.filename or "").lower().endswith(".json"))
    check_config(config, policy_of(request))
    return _answer(config)


@router.get(
    "/files",
    summary="The dataset files or local model folders under the server's data roots, for a form to pick from",
    responses=refusals(422),
)
def files(
    request: Request,
    kind: Literal["data", "model"] = Query(
        ..., description="data: dataset files; model: folders holding a config.json."
    ),
) -> FileChoices:
    return file_choices(request.app.state.settings.roots(), kind)
