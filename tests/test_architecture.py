"""The layering holds: light faces start without the training stack, nothing below tui/ uses textual."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "peft", "datasets", "bitsandbytes", "accelerate", "trl")
ROOT = Path(__file__).resolve().parent.parent

# A light command runs in-process and then we look at what it imported.
PROBE = """
import sys, contextlib, io
from tuitune.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(",".join(heavy))
"""


@pytest.mark.integration
@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["runs", "--json"],
        ["show", "last"],
        ["compare", "1", "2"],
        ["train", "--help"],
        ["logs", "last"],
        ["store", "check"],
        ["queue", "--json"],
        ["sweep", "--demo", "--set", "training.learning_rate=1e-4,2e-4", "--dry-run"],
        ["delete", "last", "--yes"],
    ],
)
def test_light_commands_never_import_the_training_stack(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1:] in ([""], []), f"{argv} imported {result.stdout}"


@pytest.mark.integration
def test_importing_the_package_and_the_tui_is_light() -> None:
    code = (
        "import sys, tuitune, tuitune.tui.app, tuitune.engine.launcher, tuitune.store, tuitune.config\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.integration
def test_import_contracts_hold() -> None:
    """import-linter: the layers (faces → services → engine → after training → data and models → runs →
    store and config → the ground); light layers never import heavy libraries (even in functions);
    nothing but the app imports textual."""
    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([linter, "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    """No import circle, imports inside functions counted (scripts/import_cycles.py prints them)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from import_cycles import import_cycles
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert import_cycles() == []


@pytest.mark.integration
def test_the_cli_reference_is_current() -> None:
    """docs/cli.md is generated from the commands: regenerate it when a command changes."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_package_exports_what_it_lazily_provides() -> None:
    import tuitune

    assert set(tuitune.__all__) == {"__version__", *tuitune._LAZY}
