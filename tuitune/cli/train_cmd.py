"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('train', help='Train a model (attached with a progress bar, or --detach). (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_command() -> None:
    not_yet_available('train')
