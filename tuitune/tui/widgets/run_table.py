"""A virtual table for thousands of runs: only the rows on screen are ever rendered.

Textual's DataTable measures every cell of every row when rows are added (seconds for 10,000
runs), so filtering or sorting as you type would freeze the app. This table keeps plain strings,
computes column widths with `len`, and draws just the visible lines (the Line API), so filtering,
sorting and marking 10,000 rows take milliseconds.

The columns fit the table's width: when their contents are wider, the widest columns that may
give way (names, models, paths) shrink first, down to their `min_width`, and a cut cell keeps
what its column says (a path or a model id its end, `…tickets.jsonl`; a name its start). When
even their minimums cannot fit (80 columns), nothing is cut for nothing: the columns keep their
widths and the rest scrolls sideways.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

MARK = "✓"


@dataclass(frozen=True)
class TableColumn:
    key: str
    label: str
    max_width: int = 40
    align_right: bool = False
    # How narrow it may get when the table is wider than the screen (None: it never shrinks).
    min_width: int | None = None
    # How a cell too wide for the column is cut, to at most `width` characters (None: it keeps
    # its start and ends in `…`, as a name does; `short_model` keeps a path's or an id's end).
    shorten: Callable[[str, int], str] | None = None
    # How rows compare when sorted by this column (missing values go last either way).
    sort_value: Callable[[TableRow], Any] | None = None


@dataclass
class TableRow:
    """One line of the table; `key` identifies it (a run id) across sorts and filters."""

    key: Hashable
    cells: Sequence[str]
    styles: dict[int, str] = field(default_factory=dict)  # column index -> rich style
    sort_values: Sequence[Any] = ()  # per column; falls back to the cell text
    search_text: str = ""  # lower-case text the filter matches against


def _matches(row: TableRow, word: str) -> bool:
    """A word matches anywhere in the row's text; a `key:value` word (`sweep:3`) matches only that
    whole token, so `sweep:3` never shows sweep 31."""
    if ":" in word:
        return word in row.search_text.split()
    return word in row.search_text


def _sort_key(value: Any) -> tuple[bool, Any]:
    # None sorts after everything; the flag keeps None from being compared with numbers.
    return (value is None, value if value is not None else 0)


class RunTable(ScrollView, can_focus=True):
    """Rows with a cursor, marks, a filter and sorting by any column; header stays on top."""

    DEFAULT_CSS = """
    RunTable {
        height: 1fr;
        background: $surface;
    }
    RunTable > .run-table--header { background: $panel; color: $text-accent; text-style: bold; }
    RunTable > .run-table--cursor { background: $block-cursor-blurred-background; }
    RunTable:focus > .run-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    RunTable > .run-table--marked { color: $text-warning; text-style: bold; }
    RunTable > .run-table--even { background: $surface-lighten-1 20%; }
    """

    COMPONENT_CLASSES = {"run-table--header", "run-table--cursor", "run-table--marked", "run-table--even"}

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Cursor up", show=False, id="table-up"),
        Binding("down,j", "cursor(1)", "Cursor down", show=False, id="table-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table-page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table-page-down"),
        Binding("home", "first", "First run", show=False, id="table-first"),
        Binding("end", "last", "Last run", show=False, id="table-last"),
        Binding("left", "scroll_left", "Scroll left", show=False, id="table-left"),
        Binding("right", "scroll_right", "Scroll right", show=False, id="table-right"),
        Binding("enter", "select", "Open", tooltip="Open the run under the cursor.", id="table-open"),
        Binding("space", "toggle_mark", "Mark", tooltip="Mark or unmark the run (for compare).", id="table-mark"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: RunTable, key: Hashable | None) -> None:
            super().__init__()
            self.table, self.key = table, key

    class Selected(Message):
        def __init__(self, table: RunTable, key: Hashable) -> None:
            super().__init__()
            self.table, self.key = table, key

    class MarksChanged(Message):
        def __init__(self, table: RunTable, marked: list[Hashable]) -> None:
            super().__init__()
            self.table, self.marked = table, marked

    class SortChanged(Message):
        def __init__(self, table: RunTable, column: str, reverse: bool) -> None:
            super().__init__()
            self.table, self.column, self.reverse = table, column, reverse

    def __init__(self, columns: Sequence[TableColumn], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns = list(columns)
        self._rows: dict[Hashable, TableRow] = {}
        self._order: list[Hashable] = []  # every key, in insertion order
        self._view: list[TableRow] = []  # filtered and sorted: what is shown
        self._marked: list[Hashable] = []
        self._filter = ""
        self.sort_column: str | None = None
        self.sort_reverse = False
        # What the contents need (capped by each column's max_width), and what is drawn: the
        # same, shrunk to fit the table's width.
        self._natural: list[int] = [len(c.label) for c in self.columns]
        self._widths: list[int] = list(self._natural)

    # --- data -------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self._view)

    @property
    def total_count(self) -> int:
        return len(self._rows)

    @property
    def shown_keys(self) -> list[Hashable]:
        return [row.key for row in self._view]

    @property
    def marked(self) -> list[Hashable]:
        """Marked keys in the order they were marked."""
        return list(self._marked)

    @property
    def cursor_key(self) -> Hashable | None:
        if 0 <= self.cursor < len(self._view):
            return self._view[self.cursor].key
        return None

    def get_row(self, key: Hashable) -> TableRow | None:
        return self._rows.get(key)

    def set_rows(self, rows: Iterable[TableRow]) -> None:
        """Replace every row, keeping the cursor on the same key when it is still there."""
        keep = self.cursor_key
        self._rows = {row.key: row for row in rows}
        self._order = list(self._rows)
        self._marked = [key for key in self._marked if key in self._rows]
        self._measure(self._rows.values(), reset=True)
        self._rebuild(keep)

    def upsert(self, rows: Iterable[TableRow]) -> None:
        """Add new rows or replace existing ones (a run that changed status, a new run)."""
        rows = list(rows)
        if not rows:
            return
        keep = self.cursor_key
        added = False
        for row in rows:
            if row.key not in self._rows:
                self._order.insert(0, row.key)  # new runs are the newest
                added = True
            self._rows[row.key] = row
        self._measure(rows)
        if added or self.sort_column or self._filter:
            self._rebuild(keep)
        else:
            positions = {r.key: i for i, r in enumerate(self._view)}
            for row in rows:
                if row.key in positions:
                    self._view[positions[row.key]] = row
            self.refresh()

    def forget(self, key: Hashable) -> None:
        """Take a row out of the table (its run was deleted)."""
        if key not in self._rows:
            return
        del self._rows[key]
        self._order.remove(key)
        if key in self._marked:
            self._marked.remove(key)
            self.post_message(self.MarksChanged(self, self.marked))
        index = self.cursor
        self._rebuild(None)
        self.cursor = min(index, max(0, len(self._view) - 1))

    def set_filter(self, text: str) -> None:
        """Show only rows whose text contains every word of `text` (case-insensitive; a
        `key:value` word matches that token whole)."""
        self._filter = text.strip().lower()
        self._rebuild(self.cursor_key)

    def sort_by(self, column: str | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._rebuild(self.cursor_key)
        if column is not None:
            self.post_message(self.SortChanged(self, column, reverse))

    def toggle_mark(self, key: Hashable | None = None) -> None:
        key = self.cursor_key if key is None else key
        if key is None:
            return
        if key in self._marked:
            self._marked.remove(key)
        else:
            self._marked.append(key)
        self.refresh()
        self.post_message(self.MarksChanged(self, self.marked))

    def clear_marks(self) -> None:
        self._marked.clear()
        self.refresh()
        self.post_message(self.MarksChanged(self, []))

    def move_to(self, key: Hashable) -> bool:
        for index, row in enumerate(self._view):
            if row.key == key:
                self.cursor = index
                return True
        return False

    # --- internals ----------------------------------------------------------------------
    def _measure(self, rows: Iterable[TableRow], reset: bool = False) -> None:
        if reset:
            self._natural = [len(c.label) for c in self.columns]
        widths = self._natural
        limits = [column.max_width for column in self.columns]
        for row in rows:
            for index, text in enumerate(row.cells):
                length = len(text)
                if length > limits[index] and (shorten := self.columns[index].shorten):
                    length = len(shorten(text, limits[index]))  # `Qwen2.5-0.5B-Instruct`, not 24 cells
                if length > widths[index]:
                    widths[index] = length
        for index, column in enumerate(self.columns):
            # Room for the label and its sort arrow, even in a narrow column.
            widths[index] = max(min(widths[index], column.max_width), self._floor(column))
        self._fit_widths()

    def _floor(self, column: TableColumn) -> int:
        """The fewest cells a column is drawn in: its label and sort arrow, or its `min_width`."""
        label = len(column.label) + (column.key != "mark")
        return max(label, column.min_width) if column.min_width is not None else label

    def _fit_widths(self) -> None:
        """Shrink the widest shrinkable columns, one cell at a time, until the table fits its width."""
        widths = list(self._natural)
        room = self.size.width  # 0 until laid out: then on_resize fits it
        if len(self._view) + 1 > self.size.height:
            room -= self.styles.scrollbar_size_vertical  # the rows scroll: the scrollbar takes its share
        excess = sum(widths) + len(widths) - room if room > 0 else 0
        narrowest = sum(
            self._floor(column) if column.min_width is not None else width
            for column, width in zip(self.columns, widths, strict=True)
        )
        if narrowest + len(widths) > room:
            excess = 0  # it cannot fit however narrow: keep every column whole and scroll sideways
        while excess > 0:
            shrinkable = [
                index
                for index, column in enumerate(self.columns)
                if column.min_width is not None and widths[index] > self._floor(column)
            ]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda index: widths[index])
            widths[widest] -= 1
            excess -= 1
        if widths != self._widths:
            self._widths = widths
            self.virtual_size = Size(sum(widths) + len(widths), len(self._view) + 1)
            self.refresh()

    def _rebuild(self, keep: Hashable | None) -> None:
        rows = [self._rows[key] for key in self._order]
        if self._filter:
            words = self._filter.split()
            rows = [row for row in rows if all(_matches(row, word) for word in words)]
        if self.sort_column is not None:
            index = next(i for i, c in enumerate(self.columns) if c.key == self.sort_column)
            column = self.columns[index]
            if column.sort_value is not None:
                value_of = column.sort_value
            else:

                def value_of(row: TableRow, i: int = index) -> Any:
                    return row.sort_values[i] if i < len(row.sort_values) else row.cells[i].lower()

            present = [row for row in rows if value_of(row) is not None]
            missing = [row for row in rows if value_of(row) is None]
            present.sort(key=lambda row: _sort_key(value_of(row)), reverse=self.sort_reverse)
            rows = present + missing
        self._view = rows
        self._fit_widths()
        self.virtual_size = Size(sum(self._widths) + len(self._widths), len(rows) + 1)
        if keep is None or not self.move_to(keep):
            self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._view) - 1)) if self._view else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False)

    def on_resize(self) -> None:
        self._fit_widths()
        self._scroll_to_cursor()

    # --- drawing ------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            strip = Strip(self._header_segments(), None)
        else:
            index = scroll_y + y - 1
            if index >= len(self._view):
                return Strip.blank(width, base)
            strip = Strip(self._row_segments(index, base), None)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _header_segments(self) -> list[Segment]:
        style = self.get_component_rich_style("run-table--header")
        segments = []
        for column, width in zip(self.columns, self._widths, strict=True):
            label = column.label
            if column.key == self.sort_column:
                label = f"{label}{'▼' if self.sort_reverse else '▲'}"
            segments.append(Segment(self._fit(label, width, column.align_right) + " ", style))
        return segments

    def _row_segments(self, index: int, base: Style) -> list[Segment]:
        row = self._view[index]
        style = base
        if index % 2:
            style += self.get_component_rich_style("run-table--even", partial=True)
        marked = row.key in self._marked
        if marked:
            style += self.get_component_rich_style("run-table--marked", partial=True)
        if index == self.cursor:
            style += self.get_component_rich_style("run-table--cursor", partial=True)
        segments = []
        for column_index, (column, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            text = MARK if column.key == "mark" and marked else row.cells[column_index]
            cell_style = style
            extra = row.styles.get(column_index)
            if extra and index != self.cursor:
                cell_style = style + Style.parse(extra)
            segments.append(Segment(self._fit(text, width, column.align_right, column.shorten), cell_style))
            segments.append(Segment(" ", style))
        return segments

    @staticmethod
    def _fit(text: str, width: int, right: bool, shorten: Callable[[str, int], str] | None = None) -> str:
        if len(text) > width:
            text = shorten(text, width)[:width] if shorten else text[: max(0, width - 1)] + "…"
        return text.rjust(width) if right else text.ljust(width)

    # --- keys and mouse -----------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.size.height - 2)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._view) - 1

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def action_toggle_mark(self) -> None:
        self.toggle_mark()

    def on_click(self, event: events.Click) -> None:
        x, y = event.x + round(self.scroll_x), event.y
        if y == 0:
            edge = 0
            for column, width in zip(self.columns, self._widths, strict=True):
                edge += width + 1
                if x < edge:
                    if column.key != "mark":
                        reverse = self.sort_column == column.key and not self.sort_reverse
                        self.sort_by(column.key, reverse)
                    return
            return
        index = round(self.scroll_y) + y - 1
        if 0 <= index < len(self._view):
            self.cursor = index
            if event.chain >= 2:
                self.action_select()
