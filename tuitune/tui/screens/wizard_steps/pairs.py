"""A preference row in the dataset step's preview: the prompt, then the chosen answer (green) beside
the rejected (red), stacked when the pane is too narrow for two readable columns; a labelled
answer with its label; a prompt with the columns its rewards read.

Every text here is the data's own: drawn literally (`present.literal_text`), never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from tuitune.runs import present

# Two answers side by side need this many columns each to read as sentences (a pane of 80 columns
# less the file picker has about 45: there the answers are stacked).
SIDE_BY_SIDE_MIN = 26


class PairView:
    """One row of a preference format (a preview's `pair`, or a record as read), drawn to fit.

    A rich renderable, so the choice between side by side and stacked is made at the width the
    pane really has, each time it is drawn (a resized terminal redraws it)."""

    def __init__(self, pair: dict[str, Any], title: Text) -> None:
        self.pair, self.title = pair, title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        pair = self.pair
        yield self.title
        yield present.literal_text(pair.get("prompt", ""), style="dim")
        if "rejected" in pair:
            chosen = present.literal_text(pair.get("chosen", ""), style="green")
            rejected = present.literal_text(pair.get("rejected", ""), style="red")
            if options.max_width >= 2 * SIDE_BY_SIDE_MIN + 2:
                table = Table.grid(expand=True, padding=(0, 2, 0, 0))
                table.add_column(ratio=1)
                table.add_column(ratio=1)
                table.add_row(Text("✓ chosen", style="bold green"), Text("✗ rejected", style="bold red"))
                table.add_row(chosen, rejected)
                yield table
            else:
                yield Text("✓ chosen", style="bold green")
                yield chosen
                yield Text("✗ rejected", style="bold red")
                yield rejected
        elif "label" in pair:
            good = bool(pair["label"])
            yield Text(
                "✓ desirable (label true)" if good else "✗ undesirable (label false)",
                style="bold green" if good else "bold red",
            )
            yield present.literal_text(pair.get("completion", ""), style="green" if good else "red")
        else:
            columns = pair.get("columns") or {}
            if not columns:
                yield Text("(no other columns)", style="dim")
            for name, value in columns.items():
                yield Text(f"{present.literal(name)}: ", style="bold") + present.literal_text(value)


def pair_title(number: int, pair: dict[str, Any], *, as_read: bool = False) -> Text:
    """`── pair 1 (prompt 27 tokens, chosen 25, rejected 19)`, or as read before the template."""
    counts: tuple[str, ...]
    if "rejected" in pair:
        kind, counts = "pair", ("chosen_tokens", "rejected_tokens")
    elif "label" in pair:
        kind, counts = "answer", ("completion_tokens",)
    else:
        kind, counts = "prompt", ()
    if as_read:
        detail = "as read, before the template"
    else:
        parts = [f"prompt {pair.get('prompt_tokens', '?')} tokens"]
        parts += [f"{name.removesuffix('_tokens')} {pair.get(name, '?')}" for name in counts]
        detail = ", ".join(parts)
    return Text(f"\n── {kind} {number} ({detail}) ", style="bold")
