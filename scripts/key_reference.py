"""Write the key tables of README.md and docs/tui.md: every key of every screen, from the app itself.

    python scripts/key_reference.py          # rewrite them (or the documents named)
    python scripts/key_reference.py --check  # exit 1 when one is out of date (a test runs this)

The rows are the `?` help screen's (`tuitune.tui.screens.help.binding_reference`), so the tables
cannot drift from the bindings; the run actions' rows come from their table
(`tuitune/tui/run_actions.py`) and say when each applies. The id column is what a keymap file
rebinds a key by. Each document marks the generated part with `<!-- keys -->` and `<!-- /keys -->`;
its tables' headings are one level below the heading above the start mark.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (ROOT / "README.md", ROOT / "docs" / "tui.md")
START, END = "<!-- keys -->", "<!-- /keys -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def tables(level: int) -> str:
    """The generated part: one table per screen under a heading of `level` #s."""
    sys.path.insert(0, str(ROOT))
    from tuitune.tui.screens.help import binding_reference

    lines: list[str] = []
    section = None
    for row in binding_reference():
        if row.section != section:
            section = row.section
            lines += [
                "",
                f"{'#' * level} {section}",
                "",
                "| key | action | what it does | id |",
                "| --- | --- | --- | --- |",
            ]
        keys = " / ".join(f"`{key}`" for key in row.keys.split(", "))
        more = row.more if row.more != row.action else ""
        ident = f"`{row.id}`" if row.id else ""
        lines.append(f"| {keys} | {_cell(row.action)} | {_cell(more)} | {ident} |")
    return "\n".join(lines) + "\n"


def rewritten(text: str, name: str) -> str:
    """`text` with its generated part made current."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{name}: no {START} ... {END} part to write the key tables in")
    headings = re.findall(r"^(#+) ", text[:start], flags=re.MULTILINE)
    level = len(headings[-1]) + 1 if headings else 2
    return text[: start + len(START)] + "\n" + tables(level) + "\n" + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a document is out of date")
    parser.add_argument("documents", nargs="*", type=Path, help="default: README.md and docs/tui.md")
    args = parser.parse_args()
    stale = []
    for path in args.documents or TARGETS:
        text = path.read_text(encoding="utf-8")
        current = rewritten(text, path.name)
        if current != text:
            stale.append(path)
            if not args.check:
                path.write_text(current, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(str(path) for path in stale)
        print(f"{names}: the key tables are out of date; run python scripts/key_reference.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
