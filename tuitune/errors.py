"""Every failure a user can see is a `TuituneError` whose message says what to do next.

The CLI prints `str(error)` on one line and exits non-zero; the TUI shows it in a notification;
the worker records it on the run. Nothing here imports the training stack.
"""

from __future__ import annotations


class TuituneError(Exception):
    """Base of every user-facing failure; the message is the whole user interface."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        # One line: the CLI and the store both show it as a single line.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


# --- configuration -------------------------------------------------------------------------
class ConfigError(TuituneError):
    """A run configuration is wrong; `field` names the dotted key at fault, where one is."""

    field: str | None = None


class InvalidConfigError(ConfigError):
    """A field has a value that is not allowed, or a key is unknown."""


class MissingConfigError(ConfigError):
    """A value the run needs was not given."""


class IncompatibleConfigError(ConfigError):
    """Two settings cannot be used together."""


class UsageError(TuituneError):
    """The command line was used wrongly (exit code 2, like argparse and click)."""

    exit_code = 2


# --- data ----------------------------------------------------------------------------------
class DataError(TuituneError):
    """A dataset cannot be read or used."""


class DatasetNotFoundError(DataError):
    """The dataset path or Hub id does not exist."""


class EmptyDatasetError(DataError):
    """The dataset has no usable rows."""


class NoTextColumnsError(DataError):
    """No column holds text that could be trained on."""


class UnknownFormatError(DataError):
    """The records match none of the known formats."""


class MalformedDataError(DataError):
    """A file is not valid JSON/JSONL/CSV/UTF-8; the message names the file and line."""


# --- models, training, after-training ------------------------------------------------------
class ModelLoadError(TuituneError):
    """A model or tokenizer could not be found or loaded."""


class TrainingError(TuituneError):
    """Training failed."""


class UnexpectedTrainingError(TrainingError):
    """Something tuitune did not foresee went wrong (a bug, or a library's own error); the run's
    log keeps the traceback."""


class OutOfMemoryError(TrainingError):
    """The device ran out of memory."""


class OutputNotWritableError(TrainingError):
    """The run's output folder cannot be written."""


class EvaluationError(TuituneError):
    """An evaluation could not run."""


class ExportError(TuituneError):
    """A merge or an upload failed."""


# --- runs and the store --------------------------------------------------------------------
class StoreError(TuituneError):
    """The run store cannot be read or written."""


class StoreDamagedError(StoreError):
    """The store file is corrupt (`tuitune store check` says what is wrong)."""


class StoreReadOnlyError(StoreError):
    """The store can be read but not written (a read-only file, folder or disk)."""


class DiskFullError(TuituneError):
    """No space left on a device tuitune writes to (the store's, or a run's folder)."""


class StoreFullError(StoreError, DiskFullError):
    """No space left on the device holding the store."""


class RunNotFoundError(StoreError):
    """No run matches the given id, name or `last`."""


class AddressUnavailableError(TuituneError):
    """A server cannot listen where it was told (the port is in use, or the address is not this machine's)."""


class SlurmError(TuituneError):
    """SLURM's tools are missing, or refused what tuitune asked (sbatch, squeue, scancel, sinfo)."""


class RunStateError(TuituneError):
    """The run is in a state that does not allow this action (e.g. resuming a running run)."""


# --- the app ---------------------------------------------------------------------------------
class KeymapError(TuituneError):
    """The user's keymap file cannot be used; the app keeps its own keys."""
