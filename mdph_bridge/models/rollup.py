"""Monthly roll-ups of the supervisors' figures, so the dashboard never rescans history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from mdph_bridge.models.base import Base


class MetricRollup(Base):
    """One measure of the transfers of one pair finished in one month (no personal data)."""

    __tablename__ = "metric_rollups"

    source: Mapped[str] = mapped_column(String(12), primary_key=True)  # hub or historique
    origin_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    dest_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    # YYYY-MM in Paris time for delays, shown by month; empty for steps and states.
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    measure: Mapped[str] = mapped_column(String(32), primary_key=True)  # delai, a step, etat.X
    count: Mapped[int] = mapped_column(default=0)
    total: Mapped[float] = mapped_column(default=0.0)
    within: Mapped[int] = mapped_column(default=0)
    maximum: Mapped[float | None]
    histogram: Mapped[dict[str, Any]] = mapped_column(default=dict)  # whole days -> count
    sketch: Mapped[bytes | None] = mapped_column(LargeBinary)  # DDSketch, protobuf


class ContinuityRollup(Base):
    """Rights by mapping outcome of the folded transfers of one pair submitted in one month."""

    __tablename__ = "continuity_rollups"

    origin_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    dest_code: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # of submission, Paris time
    transfers: Mapped[int] = mapped_column(default=0)  # those with a mapping summary
    # One column per outcome of domain.harmonisation.OUTCOMES: rights counted, no personal data.
    maintenu: Mapped[int] = mapped_column(default=0)
    maintenu_changement_payeur: Mapped[int] = mapped_column(default=0)
    a_instruire: Mapped[int] = mapped_column(default=0)
    non_transferable: Mapped[int] = mapped_column(default=0)
    echu: Mapped[int] = mapped_column(default=0)


class RollupVersion(Base):
    """The roll-ups' version: a new random value at each fold, so readers know theirs is stale."""

    __tablename__ = "rollup_versions"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # a single row, 1
    version: Mapped[str] = mapped_column(String(32))
