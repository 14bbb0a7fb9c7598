"""The JSON documents the heavy commands print (`eval`, `merge`, `export`, `upload --json`), declared once:
the CLI writes them, the app reads them back from its child process with `read_result`, which
checks the document against its type instead of guessing at keys. Light: pydantic only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from typing_extensions import NotRequired, TypedDict

from tuitune.errors import TuituneError


class EvaluationResult(TypedDict):
    """`tuitune eval --json`: the fine-tuned model's scores, and the base model's when compared."""

    run_id: int
    finetuned: dict[str, float]
    sample_count: int
    settings: dict[str, Any]
    samples: list[dict[str, Any]]
    notes: list[str]
    evaluation_ids: dict[str, int]  # label -> stored evaluation id
    base: NotRequired[dict[str, float]]
    improvements: NotRequired[dict[str, float]]  # positive: the fine-tuned model is better


class MergeResult(TypedDict):
    """`tuitune merge --json`: where the standalone model was saved."""

    run_id: int | None  # None when a folder, not a run, was merged
    output_dir: str
    files: list[str]


class ExportResult(TypedDict):
    """`tuitune export --json`: the files written into the run's folder, and what to type next."""

    run_id: int
    to: str  # gguf, ollama or vllm
    files: list[str]  # absolute paths, each an artifact of the run
    commands: list[str]  # what a user types next (`ollama create …`, the vLLM script…)
    notes: list[str]
    quant: NotRequired[str]
    round_trip: NotRequired[dict[str, Any]]  # a GGUF's check: `RoundTrip.to_dict()`


@dataclass
class UploadResult:
    """`tuitune upload --json` and `tuitune.upload()`: what was (or, with `dry_run`, would be)
    uploaded, and where."""

    repo_id: str
    kind: str  # adapter, merged, model or gguf
    folder: str
    files: list[str]  # paths in the repository, README.md included
    card: str
    dry_run: bool
    private: bool
    url: str | None = None  # the repository's URL once uploaded
    commit_url: str | None = None
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UnexpectedResultError(TuituneError):
    """A command's JSON document is not the one its type declares (a version mismatch, say)."""


Result = TypeVar("Result", EvaluationResult, ExportResult, MergeResult, UploadResult)


def read_result(kind: type[Result], document: object, command: str) -> Result:
    """`document` as `kind`, checked; a one-line error naming the command when it is not."""
    # Imported here: `import tuitune.tui.app` loads this module and, so far, not pydantic (~30 ms).
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(kind).validate_python(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise UnexpectedResultError(
            f"`tuitune {command} --json` printed an unexpected document ({where}: {first['msg']}): "
            "is the app's tuitune the same version as the CLI's? Reinstall tuitune."
        ) from None
