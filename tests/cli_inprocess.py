"""`tuitune ARGS` in this process, through the console script's own entry point, for fast tests.

`tuitune.cli.main` is what the `tuitune` script calls, so its handling of `TuituneError` and of
usage errors is exactly what a user sees. stdout and stderr are UTF-8 streams set up as Python
sets up a real process's (stdout strict, stderr backslashreplace) and stdin is empty, as with
`stdin=DEVNULL`: text a real terminal could not print fails here too. An exception escaping
`main` is what a user would see as a traceback; it is returned, not raised.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from dataclasses import dataclass


@dataclass
class Result:
    """Like `subprocess.CompletedProcess` (so `assert_one_line_error` takes it), plus the traceback."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    traceback: str | None = None


def run_inprocess(*args: str) -> Result:
    from tuitune.cli import main

    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", write_through=True)
    code, crash = 0, None
    stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exit:
                if isinstance(exit.code, int) or exit.code is None:
                    code = exit.code or 0
                else:  # sys.exit("message") prints the message and exits 1
                    err.write(f"{exit.code}\n")
                    code = 1
            except Exception:
                crash = traceback.format_exc()
                code = 1
    finally:
        sys.stdin = stdin
    out.flush()
    err.flush()
    return Result(
        list(args),
        code,
        out_bytes.getvalue().decode("utf-8", "replace"),
        err_bytes.getvalue().decode("utf-8", "replace"),
        crash,
    )


def assert_clean_error(result: Result, *fragments: str, code: int = 1) -> str:
    """No traceback, exit `code`, one line on stderr holding every fragment; returns that line."""
    assert result.traceback is None, result.traceback
    from tests.helpers import assert_one_line_error

    assert_one_line_error(result, *fragments, code=code)  # type: ignore[arg-type]
    return result.stderr.strip()
