"""`tuitune data PATH`: detect a dataset's format, preview formatted samples, measure it; or convert it.

Light at import: the data pipeline, the tokenizer and `datasets` load inside the command.
"""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from tuitune.cli.app import JSON_HELP, app, console, print_json
from tuitune.config import METHODS, parse_config
from tuitune.errors import UsageError
from tuitune.runs.present import literal
from tuitune.text.user_text import excerpt

# Commands import what they use when they run: `tuitune --help` imports every command module.

_FORMATS = ("auto", "alpaca", "chat", "sharegpt", "completion", "text")
_TEMPLATES = ("auto", "chatml", "alpaca", "llama2", "plain")
_TARGETS = ("alpaca", "chat", "sharegpt", "completion")


@app.command("data")
def data_command(
    path: str = typer.Argument(
        ..., help="A .json/.jsonl/.csv/.tsv/.parquet/.txt file, a dataset folder, a Hub id, or tuitune/sample."
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
        },
        "command line",
    )
    settings = config.data
    # Read the data before loading a tokenizer: a broken file is reported at once.
    loaded = load_examples(settings, method=method)
    tokenizer, tokenizer_name = _tokenizer(config.model)
    prepared = prepare_loaded(loaded, settings, tokenizer, method=method, batch_size=batch_size)
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


def _print_report(doc: dict[str, Any], previews: list[Any]) -> None:
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
    header.add_row(
        "Rows",
        Text(
            f"{doc['rows']} read, {doc['train_rows']} train + {doc['validation_rows']} validation sequences; "
            f"dropped: {dropped}"
        ),
    )
    header.add_row("Template", Text(f"{doc['template_description']} · tokens counted with {literal(doc['tokenizer'])}"))
    header.add_row("Tokens", Text(doc["corpus"]))
    for note in doc.get("notes") or []:
        header.add_row("", Text(literal(note), style="dim"))
    if doc.get("tools"):
        header.add_row("Tools", Text(doc["tools"]))
    console.print(header)
    for warning in doc.get("warnings") or []:
        console.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)

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
