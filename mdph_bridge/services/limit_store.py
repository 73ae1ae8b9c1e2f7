"""A `limits` storage in the hub's database, for the failed-authentication limit without Redis.

Every web worker (gunicorn runs several processes) reads and writes the same counters, so the
limit holds for the client as a whole, not per process as `limits`' in-memory storage would.
It supports the fixed-window strategy: a window opens at a client's first failure.
"""

from __future__ import annotations

import time

from limits.storage import Storage
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from mdph_bridge.models import LimitCounter

DATABASE = "database"  # the value of MDPH_BRIDGE_RATELIMIT_STORAGE_URL that picks this storage


class DatabaseStorage(Storage):
    """Fixed-window counters in the `limit_counters` table."""

    STORAGE_SCHEME = None  # built from the app's engine, not from a URL

    def __init__(self, engine: Engine) -> None:
        super().__init__(wrap_exceptions=True)
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @property
    def base_exceptions(self) -> type[Exception]:
        """Database errors, which `limits` wraps as its StorageError."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add `amount` in one statement; a new window starts if the last one ended."""
        now = time.time()
        table = LimitCounter.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key == key, table.c.expires_at <= now))
            upsert = self._insert(table).values(key=key, count=amount, expires_at=now + expiry)
            upsert = upsert.on_conflict_do_update(
                index_elements=[table.c.key], set_={"count": table.c.count + amount}
            )
            conn.execute(upsert)
            return int(conn.scalar(select(table.c.count).where(table.c.key == key)) or 0)

    def _current(self, key: str) -> tuple[int, float]:
        table = LimitCounter.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.count, table.c.expires_at).where(table.c.key == key)
            ).first()
        if row is None or row.expires_at <= time.time():
            return 0, time.time()
        return row.count, row.expires_at

    def get(self, key: str) -> int:
        """The count of the current window, 0 if none."""
        return self._current(key)[0]

    def get_expiry(self, key: str) -> float:
        """When the current window ends (Unix time)."""
        return self._current(key)[1]

    def check(self) -> bool:
        """Whether the database answers."""
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    def reset(self) -> int | None:
        """Forget every counter."""
        with self.engine.begin() as conn:
            return conn.execute(delete(LimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        """Forget one counter."""
        with self.engine.begin() as conn:
            conn.execute(delete(LimitCounter.__table__).where(LimitCounter.key == key))
