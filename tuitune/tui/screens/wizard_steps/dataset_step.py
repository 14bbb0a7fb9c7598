"""Wizard step 2: which data. A file picker (data files only) or a Hub id, then a preview.

The preview is what `tuitune data SOURCE --objective OBJECTIVE --json` reports, from the app's warm
probe process: the detected format and the first rows as soon as they are read, then the
statistics and three samples formatted with the model's template, the prompt dim and the trained
part bold. The data is read for the method step's objective (until one is chosen, for the one its
format suggests): a preference set shows its pairs, the prompt then the chosen answer (green)
beside the rejected (red); data the objective cannot learn from is refused in the data layer's
words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DirectoryTree, Input, Label, Static

from tuitune.bundled import SAMPLE_DATASET
from tuitune.errors import TuituneError
from tuitune.runs import present
from tuitune.tui.failures import ReportsWorkerErrors
from tuitune.tui.screens.wizard_steps.pairs import PairView, pair_title
from tuitune.tui.widgets.data_tree import DataFileTree
from tuitune.tui.wording import for_the_app

# What a preview was asked for: source, model, max length, objective (None: the format's), chosen only.
ProbeKey = tuple[str, "str | None", int, "str | None", bool]


class DatasetStep(ReportsWorkerErrors, Vertical):
    """Pick a dataset and see it the way training will."""

    class Confirmed(Message):
        """Enter on the dataset already previewed (or being read): go on to the next step."""

    class FirstRows(Message):
        """The format and first rows, read before the tokens are counted."""

        def __init__(self, key: ProbeKey, document: dict[str, Any]) -> None:
            super().__init__()
            self.key, self.document = key, document

    class Probed(Message):
        def __init__(self, key: ProbeKey, document: dict[str, Any] | None, error: str | None) -> None:
            super().__init__()
            self.key, self.document, self.error = key, document, error

    def __init__(self, *, source: str = SAMPLE_DATASET, root: str | Path | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._default = source
        self._root = Path(root) if root else Path.cwd()
        self.model: str | None = None  # whose tokenizer and template the preview uses
        self.max_length = 512
        self.objective: str | None = None  # what the data is read for (None: what its format suggests)
        self.chosen_only = False
        self.probed: ProbeKey | None = None
        self.document: dict[str, Any] | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("Dataset: a file, a folder, a Hub dataset id or tuitune/sample (enter reads it)")
        yield Input(
            value=self._default,
            placeholder="data.jsonl, ./folder, or user/dataset",
            id="data-input",
            tooltip="A .json/.jsonl/.csv/.tsv/.parquet/.txt file, a dataset folder, a Hub id, or tuitune/sample.",
        )
        with Horizontal(id="data-body"):
            yield DataFileTree(self._root, id="data-tree")
            with VerticalScroll(id="data-preview"):
                yield Static("", id="data-info")

    @property
    def source(self) -> str:
        return self.query_one("#data-input", Input).value.strip()

    def on_mount(self) -> None:
        # A path keeps its end (the folder you are in); as Text, since a path is not markup.
        self.query_one(DataFileTree).border_title = Text(present.short_model(str(self._root), 22))

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = Path(event.path)
        try:
            shown = str(path.relative_to(Path.cwd()))
        except ValueError:
            shown = str(path)
        self.query_one("#data-input", Input).value = shown
        self.probe()

    @on(Input.Submitted, "#data-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.source and self.probed is not None and self.probed[0] == self.source:
            self.post_message(self.Confirmed())
        else:
            self.probe()

    def probe(self, *, force: bool = False) -> None:
        """Preview the current source with the current model (skipped when already shown)."""
        source = self.source
        if not source:
            self._show_error("Type a file, a folder or a dataset id.")
            return
        key = (source, self.model, self.max_length, self.objective, self.chosen_only)
        if key == self.probed and not force:
            return
        self.probed, self.document, self.error = key, None, None
        self.query_one("#data-info", Static).update(present.literal_text(f"Reading {source}…", style="italic"))
        self._probe(key)

    @work(thread=True, exclusive=True, group="data-probe", exit_on_error=False)
    def _probe(self, key: ProbeKey) -> None:
        source, model, max_length, objective, chosen_only = key
        args = {
            "source": source,
            "model": model,
            "max_length": max_length,
            "objective": objective,
            "chosen_only": chosen_only,
        }
        try:

            def first_rows(rows: dict[str, Any]) -> None:
                self.post_message(self.FirstRows(key, rows))

            document = self.tuitune.probe.request("data", args, on_partial=first_rows, timeout=600)
            error = None
        except TuituneError as failure:
            document, error = None, str(failure) or "The dataset could not be read."
        self.post_message(self.Probed(key, document, error))

    @on(FirstRows)
    def _first_rows(self, message: FirstRows) -> None:
        if message.key == self.probed and self.document is None and self.error is None:
            self.query_one("#data-info", Static).update(describe_first_rows(message.document))

    @on(Probed)
    def _probed(self, message: Probed) -> None:
        if message.key != self.probed:
            return  # an older preview, overtaken by a newer request
        self.document, self.error = message.document, message.error
        if message.error:
            self._show_error(message.error)
        else:
            self.query_one("#data-info", Static).update(describe(message.document or {}))

    def _show_error(self, error: str) -> None:
        self.error = error
        self.query_one("#data-info", Static).update(present.literal_text(f"✗ {for_the_app(error)}", style="bold red"))


def describe_first_rows(document: dict[str, Any]) -> RenderableType:
    """The format and the first rows as read, while the tokens are being counted."""
    text = Text()
    text.append(f"✓ {document.get('format', '?')}", style="bold green")
    text.append(f" · {document.get('rows', 0):,} rows")
    _for_objective(text, document)
    text.append(" · counting tokens…", style="italic")
    if document.get("columns"):
        text.append(f"\ncolumns: {present.literal(', '.join(map(str, document['columns'])))}", style="dim")
    pairs = document.get("pairs") or []
    if pairs:
        return Group(
            text,
            *(PairView(pair, pair_title(n, pair, as_read=True)) for n, pair in enumerate(pairs, start=1)),
        )
    for index, sample in enumerate(document.get("samples") or [], start=1):
        text.append(f"\n\n── sample {index} (as read, before the template) ", style="bold")
        text.append("\n")
        text.append(present.literal(sample), style="dim")
    return text


def _for_objective(text: Text, document: dict[str, Any]) -> None:
    """` · for dpo`: the objective the data was read for, when it is not plain sft."""
    objective = document.get("objective")
    if objective and objective != "sft":
        text.append(" · for ")
        text.append(str(objective), style="bold")


def describe(document: dict[str, Any]) -> RenderableType:
    """Format, statistics and three samples (prompt dim, trained part bold green; a preference
    row as its prompt with its answers, see `PairView`)."""
    text = Text()
    text.append(f"✓ {document.get('format', '?')}", style="bold green")
    text.append(f" · {document.get('rows', 0):,} rows")
    _for_objective(text, document)
    if document.get("dropped_rows"):
        reasons = ", ".join(f"{count} {why}" for why, count in (document.get("dropped") or {}).items())
        text.append(f" · {document['dropped_rows']:,} dropped ({reasons})", style="yellow")
    text.append(f" · template {document.get('template', '?')}")
    if document.get("columns"):
        text.append(f"\ncolumns: {present.literal(', '.join(map(str, document['columns'])))}", style="dim")
    tokens = document.get("tokens") or {}
    if tokens:
        text.append(
            f"\ntokens per sample: mean {tokens.get('mean', 0):g} · p50 {tokens.get('p50', 0):g} · "
            f"p95 {tokens.get('p95', 0):g} · max {tokens.get('max', 0):,}"
        )
    if document.get("corpus"):
        text.append(f"\n{document['corpus']}")
    for note in [*(document.get("notes") or []), *([document["tools"]] if document.get("tools") else [])]:
        text.append(f"\n{note}", style="dim")
    truncated = document.get("truncated_fraction")
    if isinstance(truncated, (int, float)):
        style = "yellow" if truncated > 0.05 else ""
        text.append(f"\ntruncated at {document.get('max_length', '?')} tokens: {truncated:.1%}", style=style)
    trained = document.get("trained_token_fraction")
    if isinstance(trained, (int, float)):
        text.append(f" · trained tokens {trained:.0%}")
    if document.get("train_rows") is not None:
        unit = "sequences" if document.get("objective", "sft") == "sft" else "rows"
        text.append(
            f"\ntrain {present.count(document.get('train_rows'))} · validation {present.count(document.get('validation_rows'))} {unit}"
        )
    for warning in document.get("warnings") or []:
        text.append(f"\n⚠ {warning}", style="yellow")
    pairs = [preview["pair"] for preview in document.get("previews") or [] if preview.get("pair")]
    if pairs:
        return Group(text, *(PairView(pair, pair_title(n, pair)) for n, pair in enumerate(pairs, start=1)))
    for index, preview in enumerate(document.get("previews") or [], start=1):
        windows = int(preview.get("windows") or 1)
        shown = f", window 1 of {windows}" if windows > 1 else ""
        text.append(
            f"\n\n── sample {index} ({preview.get('tokens', '?')} tokens, {preview.get('trained_tokens', '?')} trained{shown}) ",
            style="bold",
        )
        text.append("prompt", style="dim")
        text.append(" / ")
        text.append("trained", style="bold green")
        text.append("\n")
        for segment in preview.get("segments") or []:
            text.append(
                present.literal(segment.get("text", "")), style="bold green" if segment.get("trained") else "dim"
            )
        if preview.get("dropped"):
            text.append(f"\n(dropped: {preview['dropped']})", style="yellow")
    return text
