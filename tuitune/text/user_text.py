"""Text that comes from users: files decoded with a clear error, values quoted only in short excerpts.

A bad value can be a 58 MB alias expansion or a 10,000-character path; an error message shows a
short excerpt of it, never the whole. Standard library only: config, data and the CLI use it.
"""

from __future__ import annotations

import codecs
import re
import reprlib
from pathlib import Path

from tuitune.errors import TuituneError

# C0 and C1 control characters but tab and newline: an ESC in a run name must not reach the
# terminal as an escape sequence (colours, cursor moves, hyperlinks, window titles).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates (a file name of undecodable bytes, as Python reads it): no terminal or file
# can take them, so printing one would fail, not just look odd.
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def literal(value: object) -> str:
    """`value` as text that shows what it holds: control characters as `\\x1b`-style escapes, lone
    surrogates as `\\udcff`."""
    return _UNWRITABLE.sub(_escape, str(value))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value)) or "\n" in value or "\t" in value


# The most characters of a user's value an error message repeats.
EXCERPT_LENGTH = 80

# Byte-order marks, the longest first: UTF-32 LE's starts with UTF-16 LE's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def decode_text(data: bytes, where: str, error: type[TuituneError]) -> str:
    """`data` as text: UTF-8, or UTF-16/32 when it starts with their byte-order mark.

    Anything else (latin-1, UTF-16 without a mark, binary) is refused with `error`, naming the
    line, instead of becoming rows of mojibake or NUL characters.
    """
    encoding, label = next(
        ((enc, name) for mark, enc, name in _BYTE_ORDER_MARKS if data.startswith(mark)), ("utf-8", "UTF-8")
    )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "utf-8":
            raise error(
                f"{where} starts like {label} text but is not valid {label}: save it as UTF-8 and try again."
            ) from None
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save it as UTF-8 and try again."
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise error(
            f"{where} holds a NUL character on line {line}, so it is binary or UTF-16 without a byte-order mark: "
            "save it as UTF-8 and try again."
        )
    return text


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr (a few items, a few levels, long strings cut in the middle)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = EXCERPT_LENGTH
        self.maxother = EXCERPT_LENGTH
        self.maxlong = 40

    def repr_int(self, x: int, level: int) -> str:
        # repr() of an integer over 4,300 digits raises, and is slow well before that.
        if x.bit_length() > 256:
            return f"<a {int(x.bit_length() * 0.30103) + 1:,}-digit number>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()


def excerpt(value: object) -> str:
    """A short repr of a bad value for an error message: at most `EXCERPT_LENGTH` characters."""
    try:
        text = _SHORT.repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= EXCERPT_LENGTH else text[: EXCERPT_LENGTH - 1] + "…"


def shorten(text: object, limit: int = EXCERPT_LENGTH) -> str:
    """A user's path or name for an error message: control characters escaped, cut in the middle
    when longer than `limit`."""
    text = literal(text)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return text[:half] + "…" + text[-half:]


def path_problem(text: str) -> str | None:
    """Why `text` cannot even be looked up as a path here (too long, a NUL in it, an unknown
    `~user`, bytes that are not text), or None when the file system can answer for it."""
    if "\0" in text:
        return "a NUL character in it"  # Path.exists() answers False instead of refusing it
    try:
        text.encode("utf-8")
        Path(text).expanduser().exists()
    except RuntimeError:
        return "no such user for ~"
    except UnicodeEncodeError:
        return "not valid text"
    except (OSError, ValueError) as exc:
        return exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
    return None
