"""Delay figures that add up: exact while they hold raw values, a mergeable sketch once folded.

The supervisors' figures are read from monthly roll-ups (one per pair, month and measure) plus the
transfers not folded yet. Counts, sums, shares, maxima and histograms add exactly; quantiles come
from a DDSketch (relative error `RELATIVE_ERROR`) as soon as a folded roll-up takes part, and are
exact (PostgreSQL's `percentile_cont`) while every value is still at hand.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import cast

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.pb.proto import DDSketchProto, pb
from ddsketch.store import DenseStore

RELATIVE_ERROR = 0.01  # every quantile read from a sketch is within 1 % of a true order statistic
MAPPING = LogarithmicMapping(RELATIVE_ERROR)  # DDSketch's own, to bin many values at once
DAY_SECONDS = 86400.0
HISTOGRAM_CAP_DAYS = 60  # longer delays fall in the last bar
DELAY = "delai"  # submission to completion, the 15-day figure
SENDER_WAIT = "attente_expediteur"


class SliceStore(DenseStore):
    """DDSketch's dense store, merging another one bin range at a time (C speed), not key by key.

    A dashboard merges a few hundred monthly sketches of a few hundred bins each at every call.
    """

    def merge(self, store: DenseStore) -> None:
        """Add another dense store's bins to this one's: the same bins as DenseStore.merge."""
        if store.count == 0:
            return
        if self.count == 0:
            self.copy(store)
            return
        if store.min_key < self.min_key or store.max_key > self.max_key:
            self._extend_range(store.min_key, store.max_key)
        first, last = store.min_key - store.offset, store.max_key - store.offset + 1
        at = store.min_key - self.offset
        span = slice(at, at + last - first)
        self.bins[span] = map(operator.add, self.bins[span], store.bins[first:last])
        self.count += store.count


def new_sketch() -> BaseDDSketch:
    """An empty DDSketch (`RELATIVE_ERROR`, unbounded dense stores) that merges by slices."""
    return BaseDDSketch(MAPPING, SliceStore(), SliceStore(), 0.0)


def percentile_cont(ordered: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont on sorted values: interpolate between the two nearest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class SketchRanks:
    """A sketch's order statistics, its positive bins added up once for every rank asked.

    DDSketch walks its bins again at each `get_quantile_value`; the same reading by bisection on
    running counts (the first bin whose running count exceeds the rank, as its `key_at_rank`).
    """

    def __init__(self, sketch: BaseDDSketch) -> None:
        self.sketch = sketch
        store = sketch._store  # DDSketch keeps its stores private; a unit test pins the reading
        self.offset, self.max_key = store.offset, store.max_key
        self.running = list(accumulate(store.bins))
        self.below = sketch._zero_count + sketch._negative_store.count

    def value(self, rank: int) -> float:
        """The approximate value of the order statistic `rank` (0-based)."""
        count = self.sketch.count
        # DDSketch reads rank q × (count - 1) as "the first value with more than that many below
        # or at it"; aiming half a rank higher avoids landing one below through rounding.
        fraction = min(1.0, (rank + 0.5) / (count - 1)) if count > 1 else 0.0
        position = fraction * (count - 1)
        if position < self.below:  # negative or zero values: DDSketch's own walk, rarely taken
            return cast(float, self.sketch.get_quantile_value(fraction))
        index = bisect_right(self.running, position - self.below)
        key = index + self.offset if index < len(self.running) else self.max_key
        return MAPPING.value(key)


@dataclass
class Distribution:
    """The values of one measure in one group: exact aggregates, quantiles exact or sketched."""

    count: int = 0
    total: float = 0.0
    within: int = 0
    maximum: float | None = None
    histogram: dict[int, int] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)
    sketch: BaseDDSketch | None = None
    # The sketch's running counts, kept while nothing is added (a kept total is read at each call).
    ranks: SketchRanks | None = field(default=None, repr=False, compare=False)

    def add(self, value: float, within: bool = False) -> None:
        """Count one raw value (kept exact until a sketch joins)."""
        self.ranks = None
        self.count += 1
        self.total += value
        self.within += within
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        bar = min(int(value), HISTOGRAM_CAP_DAYS) if value >= 0 else 0
        self.histogram[bar] = self.histogram.get(bar, 0) + 1
        self.values.append(value)

    def merge(self, other: Distribution) -> None:
        """Add another distribution's values to this one."""
        self.ranks = None
        self.count += other.count
        self.total += other.total
        self.within += other.within
        if other.maximum is not None:
            self.maximum = (
                other.maximum if self.maximum is None else max(self.maximum, other.maximum)
            )
        for bar, n in other.histogram.items():
            self.histogram[bar] = self.histogram.get(bar, 0) + n
        self.values += other.values
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = new_sketch()
            self.sketch.merge(other.sketch)

    @property
    def exact(self) -> bool:
        """Whether every value is at hand, so quantiles are exact."""
        return self.sketch is None

    def quantiles(self, fractions: Iterable[float]) -> list[float | None]:
        """`percentile_cont` of each fraction: exact from raw values, else read on the sketch."""
        if self.count == 0:
            return [None for _ in fractions]
        if self.sketch is None:
            ordered = sorted(self.values)
            return [percentile_cont(ordered, fraction) for fraction in fractions]
        if self.values:
            ranks = SketchRanks(self._all_sketched())
        else:
            ranks = self.ranks = self.ranks or SketchRanks(self.sketch)  # the sketch is read only
        found: list[float | None] = []
        for fraction in fractions:
            position = fraction * (self.count - 1)
            low, high = math.floor(position), math.ceil(position)
            low_value = ranks.value(low)
            high_value = ranks.value(high)
            found.append(low_value + (high_value - low_value) * (position - low))
        return found

    def mean(self) -> float | None:
        """The exact mean, or None without values."""
        return self.total / self.count if self.count else None

    def _all_sketched(self) -> BaseDDSketch:
        sketch = new_sketch()
        if self.sketch is not None:
            sketch.merge(self.sketch)
        add_values(sketch, self.values)
        return sketch

    def folded(self) -> Distribution:
        """The same distribution with its raw values folded into the sketch, ready to store."""
        return Distribution(
            self.count,
            self.total,
            self.within,
            self.maximum,
            dict(self.histogram),
            [],
            self._all_sketched(),
        )


def add_values(sketch: BaseDDSketch, values: Iterable[float]) -> None:
    """Add raw values to a sketch, one `add` per bin rather than per value (same bins)."""
    tiny = MAPPING.min_possible
    values = list(values)
    positive = [value for value in values if value > tiny]
    negative = [-value for value in values if value < -tiny]
    for sign, found in ((1.0, positive), (-1.0, negative)):
        for key, weight in Counter(map(MAPPING.key, found)).items():  # counted at C speed
            sketch.add(sign * MAPPING.value(key), weight)  # a bin's value maps back to its key
    if zeros := len(values) - len(positive) - len(negative):
        sketch.add(0.0, zeros)


def encode_sketch(sketch: BaseDDSketch) -> bytes:
    """Serialise a sketch in DDSketch's own protobuf format."""
    return bytes(DDSketchProto.to_proto(sketch).SerializeToString())  # type: ignore[no-untyped-call]


@lru_cache(maxsize=4096)
def cached_sketch(data: bytes) -> BaseDDSketch:
    """A sketch of `decode_sketch`, decoded once per process and shared: never add to it."""
    return decode_sketch(data)


def decode_sketch(data: bytes) -> BaseDDSketch:
    """Read a sketch written by `encode_sketch`, one `add` per non-empty bin."""
    message = pb.DDSketch()
    message.ParseFromString(data)
    sketch = new_sketch()
    for store, sign in ((message.positiveValues, 1.0), (message.negativeValues, -1.0)):
        offset = store.contiguousBinIndexOffset
        bins = [(offset + i, n) for i, n in enumerate(store.contiguousBinCounts) if n]
        # The highest bin, then the lowest: the store sizes its range twice, not once per bin.
        for key, weight in bins[-1:] + bins[:-1]:
            sketch.add(sign * MAPPING.value(key), weight)  # a bin's value maps back to its key
    if message.zeroCount:
        sketch.add(0.0, message.zeroCount)
    return sketch


def histogram_rows(histogram: Mapping[int, int]) -> list[dict[str, int]]:
    """Histogram bars as the API lists them, shortest delay first."""
    return [{"jours": bar, "nombre": histogram[bar]} for bar in sorted(histogram)]


def combined(parts: Iterable[Distribution]) -> Distribution:
    """One distribution holding the values of all `parts`."""
    total = Distribution()
    for part in parts:
        total.merge(part)
    return total
