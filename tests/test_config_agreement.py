"""Every face that takes a run setting accepts and refuses exactly what the config model does.

The wizard checks as you type and the CLI's flags convert text; neither may be stricter or looser
than `parse_config`, which decides at Launch. Each exposed setting is tried at its limits, just
past them, and with text that is not a value, through the wizard's own validators and through
`tuitune sweep --dry-run` (which builds the run's config from the flags without queueing it).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.cli_inprocess import run_inprocess
from tuitune.config import ConfigBuilder, key_choices, key_limits, parse_config
from tuitune.errors import IncompatibleConfigError, InvalidConfigError
from tuitune.tui.screens.wizard_steps.fields import DISTRIBUTED_FIELDS, FIELDS, Field

# Settings whose model validator ties them to another one: tried from a base where it holds.
BASE: dict[str, Any] = ConfigBuilder().demo().build().to_dict()


def _set(values: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    copy = {section: dict(part) if isinstance(part, dict) else part for section, part in values.items()}
    *sections, last = key.split(".")
    target = copy
    for section in sections:
        target = target[section]
    target[last] = value
    return copy


def model_accepts(key: str, value: Any, *, on_this_machine: bool = False) -> bool:
    """Whether the model takes `value` for `key`. A valid value this machine lacks the means for
    (a DeepSpeed strategy without DeepSpeed) counts only `on_this_machine`: the wizard leaves that
    to Launch's check of the machine, the CLI refuses it at once."""
    try:
        parse_config(_set(BASE, key, value))
    except IncompatibleConfigError:
        return not on_this_machine
    except InvalidConfigError:
        return False
    return True


def candidates(key: str, kind: str, minimum: float | None, maximum: float | None) -> list[str]:
    """Text at and just past each limit, and text that is no number at all."""
    limits = key_limits(key)
    low = minimum if minimum is not None else limits.minimum
    high = maximum if maximum is not None else limits.maximum
    texts = ["abc", "", "nan", "inf", "-inf", "1e400"]
    for bound in (low, high):
        if bound is None:
            continue
        if kind == "int":
            texts += [str(int(bound) - 1), str(int(bound)), str(int(bound) + 1)]
        else:
            texts += [repr(math.nextafter(bound, -math.inf)), repr(float(bound)), repr(math.nextafter(bound, math.inf))]
    return texts


def wizard_accepts(field: Field, text: str) -> bool:
    if field.kind == "choice":
        return text in field.choices
    if not text.strip():
        return field.optional
    return all(validator.validate(text).is_valid for validator in field.validators())


def model_accepts_text(field: Field, text: str) -> bool:
    """What Launch does with the field's text: the value the form would send, checked by the model."""
    if not text.strip():
        return model_accepts(field.key, None)
    try:
        value = field.parse(text)
    except ValueError:
        return False  # not a value of the field's kind at all
    return model_accepts(field.key, value)


NUMERIC = [field for field in (*FIELDS, *DISTRIBUTED_FIELDS) if field.kind in ("int", "float")]
CHOICES = [field for field in (*FIELDS, *DISTRIBUTED_FIELDS) if field.kind == "choice"]


@pytest.mark.parametrize("field", NUMERIC, ids=lambda field: field.key)
def test_each_number_field_of_the_wizard_refuses_what_the_model_refuses(field: Field) -> None:
    for text in candidates(field.key, field.kind, field.minimum, field.maximum):
        assert wizard_accepts(field, text) == model_accepts_text(field, text), (field.key, text)


@pytest.mark.parametrize("field", CHOICES, ids=lambda field: field.key)
def test_each_choice_of_the_wizard_is_one_the_model_takes(field: Field) -> None:
    for text in (*field.choices, "bogus", ""):
        assert wizard_accepts(field, text) == model_accepts_text(field, text), (field.key, text)
    # And no value the model allows is missing from the list.
    assert set(key_choices(field.key)) <= set(field.choices)


def _cli_flag_cases() -> list[tuple[str, str, type, str]]:
    from tuitune.cli.run_options import RUN_FLAGS

    cases: list[tuple[str, str, type, str]] = []
    for flag in RUN_FLAGS:
        if flag.key is None or flag.when_given is not None:
            continue
        option = flag.flags[0]
        if flag.kind is str and key_choices(flag.key):
            cases += [(flag.key, option, str, text) for text in (*key_choices(flag.key), "bogus")]
        elif flag.kind in (int, float):
            kind = "int" if flag.kind is int else "float"
            cases += [(flag.key, option, flag.kind, text) for text in candidates(flag.key, kind, None, None) if text]
    return cases


def _as(kind: type, text: str) -> Any:
    """The value a flag of `kind` stands for (None: text that is not one)."""
    try:
        return kind(text)
    except ValueError:
        return None


@pytest.mark.parametrize(("key", "option", "kind", "text"), _cli_flag_cases())
def test_each_flag_of_the_cli_refuses_what_the_model_refuses(key: str, option: str, kind: type, text: str) -> None:
    result = run_inprocess("sweep", "--demo", "--set", "training.seed=1", "--dry-run", "--json", option, text)
    assert result.traceback is None, result.traceback
    value = _as(kind, text)
    assert (result.returncode == 0) == (value is not None and model_accepts(key, value, on_this_machine=True)), (
        option,
        text,
        result.stderr,
    )
    if result.returncode:
        assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
