"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('eval', help='Evaluate a run (ROUGE, BLEU, perplexity), optionally against its base model. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def eval_command() -> None:
    not_yet_available('eval')
