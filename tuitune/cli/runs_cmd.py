"""Placeholder commands until their issue lands."""

from __future__ import annotations

from tuitune.cli.app import app, not_yet_available


@app.command('runs', help='List runs. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def runs_command() -> None:
    not_yet_available('runs')


@app.command('show', help='Show one run. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def show_command() -> None:
    not_yet_available('show')


@app.command('logs', help="Print a run's log. (not yet available)", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def logs_command() -> None:
    not_yet_available('logs')


@app.command('cancel', help='Cancel a running run. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def cancel_command() -> None:
    not_yet_available('cancel')


@app.command('resume', help='Resume a run from its last checkpoint. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def resume_command() -> None:
    not_yet_available('resume')


@app.command('delete', help='Delete a run. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def delete_command() -> None:
    not_yet_available('delete')


@app.command('compare', help='Compare runs side by side. (not yet available)', context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def compare_command() -> None:
    not_yet_available('compare')
