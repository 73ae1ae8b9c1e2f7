"""Each destination's last inbound position, mirrored in Redis so a caught-up poll reads no table.

Redis holds only a département code and a number. The worker raises the number right after the
statement that makes a transfer ready commits (in autocommit: no transaction to raise it in).
Between that commit and the raise, a caught-up poll answers nothing new: the transfer is listed
by the first poll after the raise, or, if the worker died in between, once a later transfer's
raise came or the key expired (`seconds` after its last raise) and a poll read the position from
PostgreSQL. A number is never raised before its commit; one behind the database (the raise was
lost: Redis down) only delays in the same way, as the key lives `seconds` from its last raise,
then a poll reads the position from PostgreSQL again, as it does when Redis was restarted or
emptied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mdph_bridge.models import Transfer
from mdph_bridge.redis_scripts import KeptConnection

log = logging.getLogger(__name__)
# Where a session keeps the hub's watermarks (set by the session factory).
WATERMARKS = "mdph_bridge.watermarks"
# A raise waits at most this long for Redis (the worker's attempt or the poll waits with it).
REDIS_TIMEOUT_SECONDS = 1.0
# Set if greater; only a new, higher value restarts the key's life (so a lost raise is bounded).
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""
# The last position given to a destination, from the unique (dest_code, inbound_seq) index.
_LAST = select(func.coalesce(func.max(Transfer.inbound_seq), 0)).where(
    Transfer.dest_code == bindparam("dest")
)


@dataclass(frozen=True)
class Watermarks:
    """The destinations' last inbound positions in Redis, each key living `seconds` at most."""

    client: redis.Redis
    seconds: int
    scripts: KeptConnection = field(default_factory=KeptConnection, compare=False)

    def raise_to(self, dest: str, seq: int) -> None:
        """Raise a destination's position to `seq` unless it is already as high (the script on a
        connection each thread keeps: the worker raises one per transfer)."""
        pool = self.client.connection_pool
        try:
            self.scripts.eval(pool, _RAISE, (watermark_key(dest),), seq, self.seconds)
        except RedisError as exc:
            log.warning("inbound watermark not raised: %s", type(exc).__name__)

    def last(self, session: Session, dest: str, mirrored: str | None) -> int:
        """A destination's last position: Redis's copy, else PostgreSQL's (mirrored again)."""
        if mirrored is not None:
            return int(mirrored)
        seq = int(session.scalar(_LAST, {"dest": dest}) or 0)
        self.raise_to(dest, seq)
        return seq


def watermark_key(dest: str) -> str:
    """The Redis key of a destination's last inbound position: its code only."""
    return f"mdph:inbound-seq:{dest}"


def make_watermarks(storage_url: str, seconds: int) -> Watermarks | None:
    """The watermarks in the failure limit's Redis; None without Redis (every poll reads)."""
    if not storage_url.startswith(("redis://", "rediss://")):
        return None
    client = redis.Redis.from_url(
        storage_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return Watermarks(client, seconds)


def raise_watermark(session: Session, dest: str, seq: int) -> None:
    """Raise the watermark once `seq` is given out: a caught-up poll lags until then."""
    watermarks: Watermarks | None = session.info.get(WATERMARKS)
    if watermarks is not None:
        watermarks.raise_to(dest, seq)
