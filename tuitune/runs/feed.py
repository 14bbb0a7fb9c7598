"""Follow a run: one cursor that returns its new points, events and status since the last look.

Every face follows a run through it (`tuitune train`'s progress bar, the app's training and detail
screens, the service's event stream), with one rule for a resumed run: a resume replaces the
points logged after its checkpoint, so when points a follower was given have left the store, the
update says `restarted` and carries the run's whole history again; the face forgets what it drew
and draws that. Points are never lost nor repeated. Light: the store only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuitune.runs import lookup
from tuitune.store import Event, MetricPoint, Run, Store, open_store


@dataclass(frozen=True)
class Cursor:
    """Where a follower is: the last point and event it was given, and how many points that was."""

    after_point: int = 0
    after_event: int = 0
    points_seen: int = 0


@dataclass(frozen=True)
class FeedUpdate:
    """What is new since a cursor: new points and events, oldest first, and the run now."""

    run: Run
    points: list[MetricPoint] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # The run was resumed: forget the points drawn before; `points` is its whole history.
    restarted: bool = False
    cursor: Cursor = field(default_factory=Cursor)

    @property
    def ended(self) -> bool:
        return not self.run.is_active


def start_at(
    store: Store, run_id: int, *, after_point: int = 0, after_event: int = 0, points_seen: int | None = None
) -> Cursor:
    """A cursor for a follower that already has everything up to these ids (a reconnecting client).
    `points_seen`: how many points it holds, when it knows (then a resume since is noticed)."""
    if points_seen is None:
        points_seen = store.count_points_up_to(run_id, after_point) if after_point else 0
    return Cursor(after_point, after_event, points_seen)


def read(store: Store, run_id: int, cursor: Cursor, *, check: bool = True) -> FeedUpdate:
    """What is new to a follower at `cursor`. `check`: see whether an active run's worker is still
    there (and record a crash): a face following one run does; a reader for many may not."""
    run = lookup.current(run_id, store=store) if check else store.get_run(run_id)
    restarted = bool(cursor.points_seen) and store.count_points_up_to(run_id, cursor.after_point) < cursor.points_seen
    after_point = 0 if restarted else cursor.after_point
    points = store.metric_points(run_id, after_id=after_point)
    events = store.events(run_id, after_id=cursor.after_event)
    seen = len(points) if restarted else cursor.points_seen + len(points)
    moved = Cursor(
        points[-1].id if points else after_point,
        events[-1].id if events else cursor.after_event,
        seen,
    )
    return FeedUpdate(run, points, events, restarted, moved)


class RunFeed:
    """One follower's feed of one run: `next()` is what is new since the previous call."""

    def __init__(self, run_id: int, *, store: Store | None = None, after_point: int = 0, after_event: int = 0) -> None:
        self.run_id = run_id
        self.store = store or open_store()
        self.cursor = start_at(self.store, run_id, after_point=after_point, after_event=after_event)

    def next(self, *, check: bool = True) -> FeedUpdate:
        update = read(self.store, self.run_id, self.cursor, check=check)
        self.cursor = update.cursor
        return update
