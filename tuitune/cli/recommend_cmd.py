"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('recommend', help='Recommend a method and settings for a model and GPU. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def recommend_command() -> None:
    not_yet_available('recommend')
