"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('data', help='Detect, preview and measure a dataset; convert it between formats. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def data_command() -> None:
    not_yet_available('data')
