"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('merge', help="Merge a run's adapter into its base model. (not yet available)", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def merge_command() -> None:
    not_yet_available('merge')


@app.command('upload', help='Upload a run to the Hugging Face Hub with a model card. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def upload_command() -> None:
    not_yet_available('upload')
