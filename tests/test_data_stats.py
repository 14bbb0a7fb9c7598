"""The statistics a user reads before training say the truth about lengths and padding."""

from __future__ import annotations

import pytest

from tuitune.data.stats import TokenLengths, all_padding_fractions, padding_fraction


def test_token_lengths_summary() -> None:
    lengths = TokenLengths.of(list(range(1, 101)))
    assert (lengths.count, lengths.mean, lengths.p50, lengths.max, lengths.min, lengths.total) == (
        100,
        50.5,
        50.5,
        100,
        1,
        5050,
    )
    assert lengths.p95 == pytest.approx(95.0, abs=0.1)
    assert TokenLengths.of([]) == TokenLengths()


def test_padding_of_one_batch_is_the_same_however_it_is_ordered() -> None:
    # One batch of 4 padded to 4 tokens: 16 slots, 12 real tokens.
    for batching in ("random", "grouped_by_length"):
        assert padding_fraction([4, 4, 2, 2], 4, batching) == 0.25
    assert padding_fraction([4, 4, 2, 2], 4, "packing") == 0.0


def test_equal_lengths_need_no_padding() -> None:
    assert all_padding_fractions([7] * 40, 4) == {"random": 0.0, "grouped_by_length": 0.0, "packing": 0.0}


def test_grouping_by_length_cuts_padding() -> None:
    import random

    rng = random.Random(0)
    lengths = [rng.choice([8, 16, 200, 400]) + rng.randint(0, 5) for _ in range(400)]
    fractions = all_padding_fractions(lengths, 8, seed=1)
    assert fractions["packing"] == 0.0
    assert fractions["grouped_by_length"] < fractions["random"] / 3
    assert 0 < fractions["random"] < 1


def test_unknown_batching_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        padding_fraction([1, 2], 2, "sorted")
