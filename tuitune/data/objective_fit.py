"""Whether a dataset's format is one the run's objective learns from; if not, a refusal that says
what the data would need.

Called where the data is read (`load_examples`), so the wizard, the CLI and the worker refuse alike
and before any tokenizer or model is loaded. The formats each objective reads are declared once,
in `tuitune.config.OBJECTIVE_FORMATS`.
"""

from __future__ import annotations

from tuitune.config import OBJECTIVE_FORMATS
from tuitune.data.preference_rows import has_columns_for, needs
from tuitune.errors import IncompatibleConfigError
from tuitune.text.user_text import shorten

# What each objective learns from, as the start of its refusal.
_LEARNS = {
    "dpo": "dpo learns from pairs",
    "orpo": "orpo learns from pairs",
    "simpo": "simpo learns from pairs",
    "kto": "kto learns from answers labelled good or bad",
    "grpo": "grpo learns from prompts and the rewards of its own answers",
}
_SFT_REFUSALS = {
    "preference": "is a preference data set (a chosen and a rejected answer per prompt): objective sft learns from "
    "prompts with one answer; train dpo, orpo, simpo or kto on it, or set preference.chosen_only to train sft on "
    "its chosen answers.",
    "labelled": "holds answers labelled good or bad: objective sft learns from prompts with one answer to imitate; "
    "train kto on it.",
    "prompts": "holds prompts without answers: objective sft learns from prompts with answers; train grpo on it "
    "(its rewards can read a column such as answer), or name --format text to train on its text.",
}


def check_objective_data(
    format: str, objective: str, *, origin: str, columns: list[str], chosen_only: bool = False
) -> None:
    """Refuse data of `format` for `objective` in one line that says what the data would need."""
    if format in OBJECTIVE_FORMATS.get(objective, (format,)):
        return
    if objective == "sft":
        if format == "preference" and chosen_only:
            return
        raise IncompatibleConfigError(f"{origin} {_SFT_REFUSALS[format]}")
    if objective == "grpo":
        needed = needs("prompts")
    elif objective == "kto":
        needed = f"{needs('labelled')}, or pairs (chosen and rejected columns: each pair is two labelled answers)"
    else:
        needed = needs("preference")
    shown = shorten(", ".join(columns), limit=160) or "(none)"
    hint = " Give a data set with those columns, or use objective sft."
    if objective == "grpo" and has_columns_for("prompts", columns):
        hint = " Name --format prompts (data.format) to use its prompts."
    raise IncompatibleConfigError(
        f"{_LEARNS.get(objective, objective)}: the data needs {needed}, but {origin} is {format} data "
        f"(columns {shown}).{hint}"
    )
