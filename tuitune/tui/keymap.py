"""The user's keys: `keymap.toml` in tuitune's home, handed to Textual's `App.set_keymap`.

    [keys]
    cancel = "ctrl+x"      # a run action's id (see `run_actions`), or any binding's id
    compare = "v,C"        # several keys: separated by commas

posting and harlequin do the same: every binding has an id, and a keymap maps ids to keys, so one
line rebinds an action on every screen that offers it. A file that cannot be used is explained
(`KeymapError`) and the app goes on with its own keys; ids the app does not have and keys it cannot
read are named, and the rest of the file is used.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from textual.binding import Binding
from textual.keys import Keys, _normalize_key_list

from tuitune.errors import KeymapError
from tuitune.system import paths
from tuitune.tui.run_actions import ACTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYMAP_FILE = "keymap.toml"
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
# Key names Textual knows besides characters (`pageup`, `f5`, `tab`...), without modifiers.
NAMED_KEYS = frozenset(key.value.rsplit("+", 1)[-1] for key in Keys if not key.value.startswith("<"))
# How a key is written for a person (the help, messages): `?` rather than `question_mark`.
KEY_WORDS = {
    "question_mark": "?",
    "exclamation_mark": "!",
    "slash": "/",
    "space": "space",
    "escape": "esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def keymap_path() -> Path:
    """Where the app reads the user's keys: `<tuitune home>/keymap.toml`."""
    return paths.home() / KEYMAP_FILE


@dataclass
class Keymap:
    """What a keymap file asks for: binding id -> keys, and what of it could not be used."""

    keys: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # ids no binding has
    unreadable: dict[str, str] = field(default_factory=dict)  # id -> the keys it gave, not keys

    def only(self, known: set[str]) -> Keymap:
        """This keymap with the ids not in `known` moved to `unknown`."""
        named = [*self.keys, *(name for name in self.unreadable if name not in self.keys)]
        return Keymap(
            keys={name: keys for name, keys in self.keys.items() if name in known},
            unknown=[*self.unknown, *(name for name in named if name not in known)],
            unreadable={name: keys for name, keys in self.unreadable.items() if name in known},
        )

    def problems(self, path: Path) -> str | None:
        """One message naming what was left out, or None when everything was used."""
        parts = []
        if self.unknown:
            parts.append(
                f"no action is called {', '.join(repr(name) for name in self.unknown)} "
                "(the help, ?, lists every key; the README lists the ids)"
            )
        for binding_id, keys in self.unreadable.items():
            parts.append(f'{binding_id} = {keys!r} is not a key (write keys like "x", "ctrl+x", "f5", "x,ctrl+x")')
        if not parts:
            return None
        return f"{path}: " + "; ".join(parts) + ". The rest of the file is used; those keep their default keys."


def read_keymap(path: Path) -> Keymap:
    """The keymap in `path` (none there: an empty one), every id in it taken as known (see `only`).

    Raises KeymapError for a file that cannot be read or is not a keymap at all.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Keymap()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise KeymapError(f"Could not read your keymap {path}: {reason}. The app uses its own keys.") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise KeymapError(
            f"Your keymap {path} is not valid TOML ({error}). The app uses its own keys; "
            'fix the file (e.g. [keys] then cancel = "ctrl+x") and start the app again.'
        ) from error
    others = [name for name in document if name != "keys"]
    table = document.get("keys", {})
    if others or not isinstance(table, dict):
        found = ", ".join(repr(name) for name in others) or "keys that is not a table"
        raise KeymapError(
            f'Your keymap {path} has {found}: it holds one [keys] table of action = "keys" lines '
            '(e.g. cancel = "ctrl+x"). The app uses its own keys.'
        )
    keymap = Keymap()
    for binding_id, keys in table.items():
        if not isinstance(keys, str) or not is_keys(keys):
            keymap.unreadable[binding_id] = str(keys)
        else:
            keymap.keys[binding_id] = _normalize_key_list(keys)
    return keymap


def user_keymap(app_bindings: Iterable[object], every_id: Callable[[], set[str]]) -> tuple[Keymap, str | None]:
    """The user's keymap file, only its known ids, and what of it was not used (None: nothing).
    `every_id`: the id of every binding of every screen (the help's `every_binding_id`), asked
    only for a file that names more than the run actions and the app's own keys.

    Raises KeymapError for a file that cannot be used at all.
    """
    path = keymap_path()
    keymap = read_keymap(path)
    named = {*keymap.keys, *keymap.unreadable}
    known = {*ACTIONS, *binding_ids(app_bindings)}
    if named - known:  # beyond the run actions and the app's own keys: every screen's
        known |= every_id()
    keymap = keymap.only(known)
    return keymap, keymap.problems(path)


def keys_of(binding_id: str, keymap: Mapping[str, str], app_bindings: Iterable[object]) -> str:
    """The first key that does `binding_id` now (`keymap`'s, else its default), as a person writes it."""
    keys = keymap.get(binding_id)
    if keys is None and binding_id in ACTIONS:
        keys = ACTIONS[binding_id].key
    if keys is None:
        keys = next((b.key for b in app_bindings if isinstance(b, Binding) and b.id == binding_id), binding_id)
    return first_key(keys)


def clashes(keymap: Mapping[str, str], sections: list[tuple[str, list[Binding]]]) -> str | None:
    """Keys `keymap` gives to an action that another action of the same screen has too (the
    app's own keys count on every screen), in words; None when there are none. `sections`: each
    screen's bindings, the app's own first (the help's `binding_sections`).

    Textual lets the keymap's binding win and says nothing (its clash check misses a binding the
    keymap does not name), so the app looks for itself.
    """
    everywhere = sections[0][1]
    found: list[str] = []
    for section, bindings in sections:
        group = bindings if bindings is everywhere else [*bindings, *everywhere]
        holders: dict[str, list[Binding]] = {}
        for binding in group:
            if not binding.id or not binding.action:
                continue  # a row that only explains a key
            for key in keymap.get(binding.id, binding.key).split(","):
                holders.setdefault(key.strip(), []).append(binding)
        for key, held in holders.items():
            distinct = {binding.id: binding for binding in held}
            if len(distinct) > 1 and any(binding_id in keymap for binding_id in distinct):
                names = " and ".join(f"{b.description} ({b.id})" for b in distinct.values())
                found.append(f"{key_words(key)} is {names} in {section}")
    if not found:
        return None
    return (
        "Your keymap gives a key to two actions of one screen: "
        + "; ".join(dict.fromkeys(found))
        + ". Only one of them gets it there; give each its own key in keymap.toml."
    )


def is_keys(keys: str) -> bool:
    """Whether `keys` is a comma-separated list of keys Textual can bind (`x`, `ctrl+x`, `f5`, `?`)."""
    return all(_is_key(key.strip()) for key in keys.split(","))


def _is_key(key: str) -> bool:
    if not key:
        return False
    *modifiers, base = key.split("+") if len(key) > 1 else [key]
    if not base or any(modifier not in MODIFIERS for modifier in modifiers):
        return False
    if len(base) == 1:
        return base.isprintable()
    if base in NAMED_KEYS:
        return True
    try:  # a character by its name, as Textual writes it: `question_mark`, `full_stop`
        unicodedata.lookup(base.replace("_", " "))
    except KeyError:
        return False
    return True


def key_words(keys: str) -> str:
    """Keys as a person writes them: `question_mark,ctrl+x` -> `?, ctrl+x`."""
    return ", ".join(KEY_WORDS.get(key.strip(), key.strip()) for key in keys.split(","))


def first_key(keys: str) -> str:
    """The first of `keys`, as a person writes it (what a message tells the user to press)."""
    return key_words(keys.split(",")[0])


def binding_ids(bindings: Iterable[object]) -> Iterator[str]:
    for binding in bindings:
        if isinstance(binding, Binding) and binding.id:
            yield binding.id
