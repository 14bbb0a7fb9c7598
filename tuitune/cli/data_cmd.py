"""`tuitune data PATH`: detect a dataset's format, preview formatted samples, measure it; or convert it.

A preference format (pairs, labelled answers, prompts) is shown as its objective reads it: the
rendered prompt, then the chosen and rejected answers side by side.

Light at import: the data pipeline, the tokenizer and `datasets` load inside the command.
"""

from __future__ import annotations

from typing import Any, Optional, get_args

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.config import METHODS, OBJECTIVES, DataFormat, parse_config
from tuitune.errors import UsageError
from tuitune.runs.present import literal, literal_text
from tuitune.text.user_text import excerpt

# Commands import what they use when they run: `tuitune --help` imports every command module.

_FORMATS: tuple[str, ...] = get_args(DataFormat)
_OBJECTIVES = ("auto", *OBJECTIVES)
# The objective a format is shown for when none is named.
_FORMAT_OBJECTIVE = {"preference": "dpo", "labelled": "kto", "prompts": "grpo"}
_TEMPLATES = ("auto", "chatml", "alpaca", "llama2", "plain")
_TARGETS = ("alpaca", "chat", "sharegpt", "completion")


@app.command("data")
def data_command(
    path: str = typer.Argument(
        ...,
        help="A .json/.jsonl/.csv/.tsv/.parquet/.txt file, a dataset folder, a Hub id, or a bundled set: "
        "tuitune/sample, tuitune/sample-preference, tuitune/sample-prompts.",
    ),
    format: str = typer.Option("auto", "--format", "-f", help=f"Data format ({', '.join(_FORMATS)})."),
    template: str = typer.Option(
        "auto", "--template", "-t", help=f"Chat template ({', '.join(_TEMPLATES)}); auto: the tokenizer's, else chatml."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Count tokens with this model's tokenizer (default: the demo model's)."
    ),
    max_length: int = typer.Option(
        512, "--max-length", help="Tokens per training sequence; longer samples are truncated."
    ),
    hf_config: Optional[str] = typer.Option(None, "--hf-config", help="Hub dataset configuration (subset) name."),
    split: str = typer.Option("train", "--split", help="Dataset split."),
    data_files: Optional[list[str]] = typer.Option(
        None, "--data-files", help="Files inside a Hub dataset or folder (repeatable)."
    ),
    text_columns: Optional[list[str]] = typer.Option(
        None, "--text-column", help="Column joined into the text format (repeatable)."
    ),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", help="Use at most this many rows."),
    text_documents: str = typer.Option(
        "auto",
        "--text-documents",
        help="A .txt file's documents: paragraphs, lines, or auto (paragraphs if it has blank lines).",
    ),
    window_stride: int = typer.Option(
        0, "--window-stride", help="Tokens each window of a long text repeats from the one before (context, no loss)."
    ),
    method: str = typer.Option(
        "lora", "--method", help="Training method the data is for (instruction_tuning uses alpaca)."
    ),
    objective: str = typer.Option(
        "auto",
        "--objective",
        help=f"What the data trains ({', '.join(_OBJECTIVES)}); auto: dpo for pairs, kto for labelled answers, "
        "grpo for prompts, else sft.",
    ),
    chosen_only: bool = typer.Option(
        False, "--chosen-only", help="With --objective sft, read a preference set's chosen answers."
    ),
    packing: bool = typer.Option(False, "--packing", help="Report padding for packed batches."),
    batch_size: int = typer.Option(4, "--batch-size", help="Batch size used to measure padding."),
    to: Optional[str] = typer.Option(None, "--to", help=f"Convert to this format ({', '.join(_TARGETS)}); needs -o."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where --to writes JSONL."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Detect, preview and measure a dataset; convert it between formats with --to and -o."""
    _check_choice("--format", format, _FORMATS)
    _check_choice("--template", template, _TEMPLATES)

    _check_choice("--method", method, METHODS)
    _check_choice("--objective", objective, _OBJECTIVES)
    if to is not None or output is not None:
        if to is None or output is None:
            raise UsageError("Converting needs both --to FORMAT and -o OUT.jsonl.")
        _check_choice("--to", to, _TARGETS)
        _convert(path, to, output, format, text_columns, hf_config, split, data_files, as_json)
        return
    from tuitune.data.prepare import prepare_loaded
    from tuitune.data.split import load_examples

    # Checked by the run configuration's own rules, so `data` and `train` accept the same values.
    config = parse_config(
        {
            "model": {"name_or_path": model} if model is not None else {},
            "data": {
                "source": path,
                "format": format,
                "template": template,
                "hub_config": hf_config,
                "split": split,
                "data_files": data_files or None,
                "text_columns": text_columns or None,
                "max_length": max_length,
                "max_samples": max_samples,
                "packing": packing,
                "text_documents": text_documents,
                "window_stride": window_stride,
            },
            "training": {"batch_size": batch_size},
            **({"objective": objective} if objective != "auto" else {}),
            **({"preference": {"chosen_only": True}} if chosen_only else {}),
        },
        "command line",
    )
    settings = config.data
    # Read the data before loading a tokenizer: a broken file is reported at once.
    named = None if objective == "auto" else objective
    loaded = load_examples(settings, method=method, objective=named, chosen_only=chosen_only)
    chosen = named or _FORMAT_OBJECTIVE.get(loaded.format, "sft")
    tokenizer, tokenizer_name = _tokenizer(config.model)
    prepared = prepare_loaded(loaded, settings, tokenizer, method=method, objective=chosen, batch_size=batch_size)
    previews = prepared.preview(3)
    document = prepared.stats.to_dict()
    document.update(
        template=prepared.template.name,
        template_description=prepared.template.describe(),
        tokenizer=tokenizer_name,
        previews=[p.to_dict() for p in previews],
    )
    if as_json:
        print_json(document)
        return
    if chosen != "sft":
        _print_header(document)
        _print_pairs(document, previews)
        return
    _print_report(document, previews)


def _check_choice(option: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{option} {excerpt(value)} is not one of {', '.join(allowed)}.")


def _tokenizer(model: Any) -> tuple[Any, str]:
    """The tokenizer to count with: the model's (`ModelSettings`; the demo model's by default)."""
    from tuitune.models.loading import load_tokenizer

    return load_tokenizer(model), model.name_or_path


def _convert(
    path: str,
    to: str,
    output: str,
    format: str,
    text_columns: Optional[list[str]],
    hf_config: Optional[str],
    split: str,
    data_files: Optional[list[str]],
    as_json: bool,
) -> None:
    from tuitune.data import convert_dataset

    result = convert_dataset(
        path,
        to,
        output,
        format=format,
        text_columns=text_columns or None,
        hub_config=hf_config,
        split=split,
        data_files=data_files or None,
    )
    document = {
        "source": path,
        "from_format": result.from_format,
        "to_format": result.to_format,
        "rows": result.rows,
        "skipped": dict(result.skipped),
        "output": str(result.path),
    }
    if as_json:
        print_json(document)
        return
    skipped = sum(result.skipped.values())
    note = f" ({skipped} skipped: {', '.join(f'{n} {why}' for why, n in result.skipped.items())})" if skipped else ""
    console.print(Text(f"Converted {result.rows} rows from {result.from_format} to {to}: {literal(result.path)}{note}"))


def _print_header(doc: dict[str, Any]) -> None:
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    # Paths, column names and model ids are the user's text, never markup ("[/x]" in a column).
    header.add_row("Dataset", Text(literal(doc["source"])))
    header.add_row(
        "Format",
        Text(
            literal(
                doc["format"] + (f" (text from {', '.join(doc['text_columns'])})" if doc.get("text_columns") else "")
            )
        ),
    )
    header.add_row("Columns", Text(literal(", ".join(doc["columns"]))))
    dropped = ", ".join(f"{n} {why}" for why, n in doc["dropped"].items()) or "none"
    unit = "sequences" if doc["objective"] == "sft" else f"rows for {doc['objective']}"
    header.add_row(
        "Rows",
        Text(
            f"{doc['rows']} read, {doc['train_rows']} train + {doc['validation_rows']} validation {unit}; "
            f"dropped: {dropped}"
        ),
    )
    if doc.get("labels"):
        header.add_row("Labels", Text(", ".join(f"{n} {kind}" for kind, n in doc["labels"].items())))
    header.add_row("Template", Text(f"{doc['template_description']} · tokens counted with {literal(doc['tokenizer'])}"))
    header.add_row("Tokens", Text(doc["corpus"]))
    for note in doc.get("notes") or []:
        header.add_row("", Text(literal(note), style="dim"))
    if doc.get("tools"):
        header.add_row("Tools", Text(doc["tools"]))
    console.print(header)
    for warning in doc.get("warnings") or []:
        console.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)


def _print_pairs(doc: dict[str, Any], previews: list[Any]) -> None:
    """Each previewed row: the prompt dim, then the chosen answer (green) beside the rejected
    (red), or the labelled completion, or the columns the rewards read. The rows' text is the
    data's own: drawn as literal text, never as markup."""
    for number, sample in enumerate(previews, start=1):
        pair = sample.pair
        if pair is None:
            continue
        if pair.label is not None:
            kind = "desirable" if pair.label else "undesirable"
            title = f"\nAnswer {number} ({kind}): prompt {pair.prompt_tokens} tokens, answer {pair.answer_tokens[0]}"
        elif pair.answer_tokens:
            chosen, rejected = pair.answer_tokens
            title = f"\nPair {number}: prompt {pair.prompt_tokens} tokens, chosen {chosen}, rejected {rejected}"
        else:
            title = f"\nPrompt {number}: {pair.prompt_tokens} tokens"
        console.print(Text(title, style="bold"))
        console.print(literal_text(pair.prompt, style="dim"))
        if pair.label is not None:
            console.print(literal_text(pair.completion, style="green" if pair.label else "red"))
        elif pair.answer_tokens:
            table = Table(show_header=True, show_lines=False, expand=True, box=None, padding=(0, 2))
            table.add_column(Text("✓ chosen", style="bold green"), ratio=1)
            table.add_column(Text("✗ rejected", style="bold red"), ratio=1)
            table.add_row(literal_text(pair.chosen, style="green"), literal_text(pair.rejected, style="red"))
            console.print(table)
        for name, value in pair.columns.items():
            console.print(Text(f"{literal(name)}: ", style="bold") + literal_text(value))
    prompts = doc["prompt_tokens"]
    answers = doc["answer_tokens"]
    table = Table(title="Statistics", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row(
        "prompt tokens (mean / p50 / p95 / max)",
        f"{prompts['mean']:g} / {prompts['p50']:g} / {prompts['p95']:g} / {prompts['max']}",
    )
    if answers["count"]:
        table.add_row(
            "answer tokens (mean / p50 / p95 / max)",
            f"{answers['mean']:g} / {answers['p50']:g} / {answers['p95']:g} / {answers['max']}",
        )
    table.add_row(f"longer than max length {doc['max_length']}", f"{doc['long_rows']:,}")
    console.print(table)


def _print_report(doc: dict[str, Any], previews: list[Any]) -> None:
    _print_header(doc)
    for number, sample in enumerate(previews, start=1):
        title = f"\nSample {number}: {sample.tokens} tokens, {sample.trained_tokens} trained"
        if sample.truncated:
            title += f" (truncated from {sample.full_length})"
        if sample.windows > 1:
            title += f" (window 1 of {sample.windows}: a long text trains as consecutive windows)"
        if sample.dropped:
            title += f" — dropped: {sample.dropped}"
        console.print(Text(title, style="bold"))
        body = Text()
        for segment in sample.segments:
            body.append(segment.text, style="bold green" if segment.trained else "dim")
        console.print(body)
    console.print(
        Text("\n(dim: prompt, no loss · ", style="dim")
        + Text("bold green: trained", style="bold green")
        + Text(")", style="dim")
    )

    tokens = doc["tokens"]
    table = Table(title="Statistics", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row(
        "tokens per sample (mean / p50 / p95 / max)",
        f"{tokens['mean']:g} / {tokens['p50']:g} / {tokens['p95']:g} / {tokens['max']}",
    )
    table.add_row(f"truncated at max length {doc['max_length']}", f"{doc['truncated_fraction']:.1%}")
    table.add_row("tokens with loss", f"{doc['trained_token_fraction']:.1%}")
    labels = {"random": "random batches", "grouped_by_length": "length-grouped batches", "packing": "packed batches"}
    for batching, fraction in doc["padding"].items():
        chosen = " (chosen)" if batching == doc["batching"] else ""
        label = f"padding, {labels.get(batching, batching)} of {doc['batch_size']}{chosen}"
        table.add_row(label, f"{fraction:.1%}")
    console.print(table)
