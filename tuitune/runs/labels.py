"""A run's note and tags: what a person writes about it, checked once for every face.

The limits are declared here and nowhere else: the CLI's help, the app's dialog and the REST
API's schema read them. A tag is one word (letters, digits and `-_.:/+`), so `tag:best` and
`lr/2e-4` work in the history filter the way they read; a note is free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tuitune.errors import UsageError
from tuitune.text.user_text import excerpt

MAX_NOTE_CHARS = 2000
MAX_TAGS = 20
MAX_TAG_CHARS = 40
TAG_PATTERN = r"[\w.:/+-]+"
_TAG = re.compile(rf"^{TAG_PATTERN}$")


class InvalidLabelError(UsageError):
    """A note or tag a run cannot take (too long, too many, a tag that is not one word)."""


def clean_note(text: str | None) -> str | None:
    """The note as stored: stripped, None for nothing; refused when over the limit."""
    if text is None or not text.strip():
        return None
    note = text.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidLabelError(
            f"The note is {len(note)} characters long; a run's note holds at most {MAX_NOTE_CHARS}. Shorten it."
        )
    return note


def clean_tags(tags: Iterable[str]) -> list[str]:
    """The tags as stored: stripped, lower-cased, each once, in the order given; refused when one
    is not a single word or too long, or when there are too many."""
    kept: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidLabelError(
                f"The tag {excerpt(tag)} is {len(tag)} characters long; a tag has at most {MAX_TAG_CHARS}."
            )
        if not _TAG.match(tag):
            raise InvalidLabelError(
                f"The tag {excerpt(tag)} is not one word: use letters, digits and - _ . : / + "
                "(give several tags as separate words)."
            )
        if tag not in kept:
            kept.append(tag)
    if len(kept) > MAX_TAGS:
        raise InvalidLabelError(f"{len(kept)} tags given; a run has at most {MAX_TAGS}. Remove some first.")
    return kept


def retag(current: Iterable[str], *, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """`current` with `add` appended and `remove` taken out (each checked like any tag)."""
    gone = set(clean_tags(remove))
    return clean_tags([*(tag for tag in current if tag not in gone), *(tag for tag in add if tag.lower() not in gone)])


def label_words(note: str | None, tags: Iterable[str]) -> list[str]:
    """What a history filter matches a run's labels by: each tag as `tag:NAME` and bare, and the note."""
    words = [item for tag in tags for item in (tag, f"tag:{tag}")]
    if note:
        words.append(note)
    return words
