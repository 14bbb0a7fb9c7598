"""A clock that stands still, for tests that show or compare times.

The store reads the time through one seam, `tuitune.store.clock.now`; a few modules ask
`datetime.now()` themselves (how long ago a rank last beat, how long a live run has run). A test
that asserts on a time freezes both: the seam, and `datetime` in the modules it names.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone, tzinfo
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from tuitune.store import clock

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; annotations are not evaluated

# A moment far from any real one, so a time read from the real clock shows up as wrong.
FROZEN = datetime(2025, 3, 14, 12, 0, tzinfo=timezone.utc)


class FrozenClock:
    """The store's clock and `datetime.now()` in the given modules all read `at` (aware, UTC),
    until the test moves it on with `advance`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime = FROZEN) -> None:
        self.at = at
        self._monkeypatch = monkeypatch
        monkeypatch.setattr(clock, "now", lambda: self.at.timestamp())

    @property
    def seconds(self) -> float:
        """`at` as the store keeps it: unix seconds."""
        return self.at.timestamp()

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    def freeze(self, *modules: ModuleType | str) -> FrozenClock:
        """Make `datetime.now()` in each module read this clock. Only for modules that use the
        name `datetime` to ask the time (and for annotations): an `isinstance(value, datetime)`
        there would no longer hold for real datetimes."""
        frozen = self

        class FrozenDatetime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> Self:
                return cls.fromtimestamp(frozen.seconds, tz)

        for module in modules:
            found = sys.modules[module] if isinstance(module, str) else module
            assert getattr(found, "datetime", None) is datetime, f"{found.__name__} does not read datetime.now()"
            self._monkeypatch.setattr(found, "datetime", FrozenDatetime)
        return self
