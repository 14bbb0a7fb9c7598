"""What each objective learns, in one line, and the line the method step shows for the chosen one.

The objective says what the weights learn from (the method says which weights train); the data
suggests one (pairs: dpo, labelled answers: kto, prompts: grpo, else sft), which the wizard's
probe works out from the formats each objective reads (`tuitune.config.OBJECTIVE_FORMATS`).
"""

from __future__ import annotations

from rich.text import Text

from tuitune.config import RunConfig
from tuitune.tui.screens.wizard_steps.fields import OBJECTIVE_FIELDS, default_text, uses

OBJECTIVE_HELP = {
    "sft": "imitate the answers (prompts with one answer each)",
    "dpo": "prefer the chosen answer to the rejected, against a reference",
    "kto": "more like the answers labelled good, less like the bad",
    "orpo": "imitate the chosen answer, push the rejected down; no reference",
    "simpo": "prefer the chosen answer by a margin; no reference",
    "grpo": "sample answers to each prompt, learn from their rewards",
}

# What the data is, in the words of the suggestion ("the data (pairs) suggests dpo").
FORMAT_WORDS = {"preference": "pairs", "labelled": "labelled answers", "prompts": "prompts"}


def objective_help(objective: str, suggested: str | None = None, format: str | None = None) -> Text:
    """The chosen objective's line, and what the data suggests when it is known."""
    text = Text()
    text.append(f"{objective}: ", style="bold")
    text.append(OBJECTIVE_HELP.get(objective, "") + ".")
    if suggested is not None:
        what = FORMAT_WORDS.get(format or "", f"{format} data" if format else "data")
        text.append(f"\nThe data ({what}) suggests ", style="dim")
        text.append(suggested, style="bold green" if suggested == objective else "bold yellow")
        text.append(".", style="dim")
    return text


def objective_summary(config: RunConfig) -> Text:
    """The objective of a configuration and the settings it reads, as Review shows them."""
    text = Text()
    text.append("Objective ", style="bold")
    text.append(config.objective, style="bold green")
    text.append(f": {OBJECTIVE_HELP.get(config.objective, '')}")
    shown = [
        spec
        for spec in OBJECTIVE_FIELDS
        if uses(spec.key, method=config.method, objective=config.objective)
        # The switch is said only when on: most sft runs have no preference set to pick from.
        and (spec.key != "preference.chosen_only" or config.preference.chosen_only)
    ]
    for spec in shown:
        text.append(" · ")
        if spec.kind == "bool":  # a switch is said by its name when on (shown only then)
            text.append(spec.label)
            continue
        text.append(f"{spec.label} ", style="dim")
        text.append(default_text(spec, config))
    return text
