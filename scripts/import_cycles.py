"""Print every import circle in the package: modules that import each other, directly or through
others, counting imports inside functions too (they hide circles from a reader, not from Python).

    .venv/bin/python scripts/import_cycles.py      # exits 1 when there is one

Built on grimp, the graph import-linter checks the layers on; a circle is a strongly connected
group of two or more modules (Tarjan's algorithm).
"""

from __future__ import annotations

import sys

import grimp


def import_cycles(package: str = "tuitune") -> list[list[str]]:
    """Each group of modules that import one another, sorted; [] when there is none."""
    graph = grimp.build_graph(package, include_external_packages=False, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    # The walk recurses once per module on a path; the limit is put back after (a test runs this
    # in the suite's process, where other code relies on the usual limit).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(groups)


def main() -> int:
    cycles = import_cycles()
    for group in cycles:
        print(" <-> ".join(group))
    print(f"{len(cycles)} import circle(s) in tuitune")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
