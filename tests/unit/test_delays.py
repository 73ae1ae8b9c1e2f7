"""Distributions that add up: exact while raw, within the sketch's relative error once folded."""

from __future__ import annotations

import math
from typing import Any

import pytest
from ddsketch import DDSketch
from hypothesis import given
from hypothesis import strategies as st

from mdph_bridge.domain.delays import (
    RELATIVE_ERROR,
    Distribution,
    SketchRanks,
    add_values,
    decode_sketch,
    encode_sketch,
    new_sketch,
    percentile_cont,
)

pytestmark = pytest.mark.unit
DELAYS = st.lists(st.floats(min_value=0.001, max_value=400), min_size=1, max_size=300)
FRACTIONS = (0.0, 0.5, 0.9, 0.95, 1.0)


def raw(values: list[float]) -> Distribution:
    distribution = Distribution()
    for value in values:
        distribution.add(value, within=value <= 15)
    return distribution


def bracket(values: list[float], fraction: float) -> tuple[float, float]:
    """The two order statistics percentile_cont interpolates between."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    return ordered[math.floor(position)], ordered[math.ceil(position)]


@given(DELAYS)
def test_raw_values_give_postgresqls_percentile_cont(values: list[float]) -> None:
    distribution = raw(values)
    expected = [percentile_cont(sorted(values), fraction) for fraction in FRACTIONS]
    assert distribution.quantiles(FRACTIONS) == expected
    assert distribution.exact


@given(DELAYS, DELAYS)
def test_folded_quantiles_stay_within_the_relative_error(
    first: list[float], second: list[float]
) -> None:
    stored = Distribution()
    stored.merge(raw(first).folded())
    stored.merge(raw(second))  # a roll-up read back, plus transfers not folded yet
    values = first + second

    assert not stored.exact
    assert stored.count == len(values)
    assert stored.total == pytest.approx(sum(values))
    assert stored.within == sum(v <= 15 for v in values)
    assert stored.maximum == max(values)
    for fraction, got in zip(FRACTIONS, stored.quantiles(FRACTIONS), strict=True):
        low, high = bracket(values, fraction)
        assert got is not None
        assert low * (1 - RELATIVE_ERROR) <= got <= high * (1 + RELATIVE_ERROR)


@pytest.mark.parametrize(
    "values", [[0.5, 2.0, 3.0, 11.0, 40.0], [7.0], [7.0, 7.0, 7.0], [0.0, 3.0]]
)
def test_a_sketch_survives_its_storage_format(values: list[float]) -> None:
    folded = raw(values).folded()
    assert folded.sketch is not None

    back = decode_sketch(encode_sketch(folded.sketch))

    assert back.count == len(values)
    for fraction in FRACTIONS:
        expected = folded.sketch.get_quantile_value(fraction)
        assert back.get_quantile_value(fraction) == pytest.approx(expected, rel=1e-12)


def test_histogram_counts_whole_days_and_caps_the_last_bar() -> None:
    distribution = raw([0.2, 0.9, 1.5, 59.9, 61.0, 300.0])
    assert distribution.histogram == {0: 2, 1: 1, 59: 1, 60: 2}


@given(st.lists(st.floats(min_value=-5, max_value=400), min_size=1, max_size=300))
def test_values_added_by_bin_fill_the_same_bins_as_one_by_one(values: list[float]) -> None:
    one_by_one, by_bin = DDSketch(RELATIVE_ERROR), DDSketch(RELATIVE_ERROR)
    for value in values:
        one_by_one.add(value)
    add_values(by_bin, values)

    assert by_bin.count == one_by_one.count
    for fraction in (0.0, 0.1, 0.5, 0.9, 0.95, 1.0):
        assert by_bin.get_quantile_value(fraction) == one_by_one.get_quantile_value(fraction)


@given(st.lists(st.floats(min_value=-5, max_value=400), min_size=1, max_size=300))
def test_ranks_by_bisection_read_what_ddsketch_reads(values: list[float]) -> None:
    sketch = DDSketch(RELATIVE_ERROR)
    add_values(sketch, values)
    ranks = SketchRanks(sketch)

    count = len(values)
    for rank in range(count):
        fraction = min(1.0, (rank + 0.5) / (count - 1)) if count > 1 else 0.0
        assert ranks.value(rank) == sketch.get_quantile_value(fraction)


@given(st.lists(DELAYS | st.lists(st.floats(min_value=-5, max_value=0.5)), min_size=1, max_size=6))
def test_sketches_merged_by_slices_hold_the_bins_ddsketch_merges(parts: list[list[float]]) -> None:
    by_key, by_slice = DDSketch(RELATIVE_ERROR), new_sketch()
    for values in parts:
        part = DDSketch(RELATIVE_ERROR)
        add_values(part, values)
        by_key.merge(part)
        by_slice.merge(part)

    assert by_slice.count == by_key.count
    for store in ("_store", "_negative_store"):
        mine, theirs = getattr(by_slice, store), getattr(by_key, store)
        assert mine.count == theirs.count
        keys = range(min(mine.min_key, theirs.min_key), max(mine.max_key, theirs.max_key) + 1)
        for key in keys:
            assert bin_at(mine, key) == bin_at(theirs, key), key


def bin_at(store: Any, key: int) -> float:
    """The count in one bin of a dense store (0 outside its range)."""
    index = key - store.offset
    return float(store.bins[index]) if 0 <= index < len(store.bins) else 0.0
