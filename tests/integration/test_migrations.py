"""Migrations on PostgreSQL: one head, up and down cleanly, and in step with the models."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from support import create_database, drop_database

from mdph_bridge.migrations import alembic_config
from mdph_bridge.models import Base, ContinuityRollup, Departement, Transfer

pytestmark = pytest.mark.integration
NAME = f"mdph_test_migrations_{os.getpid()}"


@pytest.fixture
def empty_database() -> Iterator[str]:
    yield create_database(NAME)
    drop_database(NAME)


# The migrations' lock timeout (env.py): an index build must wait past it behind a busy hub.
LOCK_TIMEOUT_SECONDS = 10
BUILD_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE wait_event_type = 'Lock' AND query LIKE '%INDEX CONCURRENTLY%'"
)


@contextlib.contextmanager
def write_held_until_the_build_outwaits_the_lock_timeout(url: str) -> Iterator[None]:
    """A worker's write kept open until an index build has waited for it longer than the
    migrations' lock timeout: a build that obeyed that timeout would have failed by then."""
    engine = create_engine(url)
    busy = engine.connect()
    busy.exec_driver_sql("UPDATE transfers SET state = state WHERE false")
    watching = engine.connect()

    def release_once_outwaited() -> None:
        """Once the build (or its drop of a left-over) waits on a lock, hold on past the timeout."""
        try:
            for _ in range(600):  # 60 s for the build to start waiting, a bound for a hung test
                waiting = watching.execute(BUILD_WAITING).scalar_one()
                watching.rollback()
                if waiting:
                    time.sleep(LOCK_TIMEOUT_SECONDS + 1)
                    break
                time.sleep(0.1)
        finally:
            busy.rollback()

    releasing = threading.Thread(target=release_once_outwaited)
    releasing.start()
    try:
        yield
    finally:
        releasing.join()
        busy.close()
        watching.close()
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    return names


def transfer_row(**values: Any) -> dict[str, Any]:
    """A transfer's row as an earlier revision's table takes it: its required columns, `values`."""
    now = datetime.now(UTC)
    return {"id": uuid.uuid4(), "origin_code": "59", "dest_code": "62",
            "numero_dossier_origine": "B-1", "motif": "demenagement", "submitted_at": now,
            "warn_at": now, "due_at": now, "staging_key_id": "k", "problems": [], "warnings": [],
            **values}  # fmt: skip


def test_single_head(empty_database: str) -> None:
    assert len(ScriptDirectory.from_config(alembic_config(empty_database)).get_heads()) == 1


def test_upgrade_downgrade_upgrade_matches_the_models(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    assert tables(empty_database) == set(Base.metadata.tables)
    command.downgrade(config, "base")
    assert tables(empty_database) == set()
    command.upgrade(config, "head")
    command.check(config)  # raises if the models need a migration that does not exist


def test_files_are_named_in_chain_order(empty_database: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(empty_database))
    chain = list(reversed(list(script.walk_revisions())))
    assert [r.revision for r in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    for revision in chain:
        assert revision.path.rsplit("/", 1)[1].split("_")[1] == revision.revision


def test_continuity_roll_ups_start_from_the_transfers_already_folded(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0010")
    engine = create_engine(empty_database)
    summary = {"resultats": {"maintenu": 2, "a_instruire": 1, "echu": 1}}
    with engine.begin() as conn:
        conn.execute(insert(Departement), [{"code": c, "nom": c} for c in ("59", "62")])
        for folded, harmonisation in (
            (True, summary),
            (True, summary),
            (True, None),
            (False, summary),
        ):
            row = transfer_row(
                state="completed",
                submitted_at=datetime(2026, 3, 31, 22, 30, tzinfo=UTC),
                rolled_up=folded,
                harmonisation=harmonisation,
            )
            conn.execute(insert(Transfer).values(row))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        rows = conn.execute(select(ContinuityRollup.__table__)).mappings().all()
    engine.dispose()
    # The two folded ones with a summary, in the month of submission in Paris time.
    assert [dict(row) for row in rows] == [
        {"origin_code": "59", "dest_code": "62", "month": "2026-04", "transfers": 2,
         "maintenu": 4, "maintenu_changement_payeur": 0, "a_instruire": 2,
         "non_transferable": 0, "echu": 2}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after", "index", "built"),
    [
        ("0012", "head", "ix_transfers_open_due", "(due_at, id) WHERE"),
        (
            "0018",
            "0019",
            "ix_transfers_packages_held",
            "(state, state_changed_at) WHERE "
            "((package_key IS NOT NULL) OR (medical_package_key IS NOT NULL))",
        ),
        (
            "0019",
            "0020",
            "uq_transfers_origin_code_idempotency_key_given",
            "(origin_code, idempotency_key) WHERE (idempotency_key IS NOT NULL)",
        ),
        (
            "0020",
            "0019",
            "uq_transfers_origin_code_idempotency_key",
            "(origin_code, idempotency_key)",
        ),
    ],
)
def test_an_index_is_built_beside_a_busy_hub_and_replaces_a_left_over(
    empty_database: str, before: str, after: str, index: str, built: str
) -> None:
    """0013, 0019 and 0020 (both ways) build their index concurrently: waiting for a write longer
    than the migrations' lock timeout rather than failing, and again over an interrupted build's."""
    config = alembic_config(empty_database)
    command.upgrade(config, before)
    engine = create_engine(empty_database)
    with engine.begin() as conn:  # what an interrupted build leaves behind
        conn.exec_driver_sql(f"CREATE INDEX {index} ON transfers (id)")
    with write_held_until_the_build_outwaits_the_lock_timeout(empty_database):
        (command.upgrade if after > before else command.downgrade)(config, after)
    with engine.connect() as conn:
        definition = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :index"), {"index": index}
        ).scalar_one()
    engine.dispose()
    assert built in definition, definition


def test_a_digest_is_kept_only_for_the_transfers_a_worker_may_still_process(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0015")
    engine = create_engine(empty_database)
    states = ("received", "validating", "failed", "ready", "rejected", "cancelled", "completed")
    with engine.begin() as conn:
        conn.execute(insert(Departement), [{"code": c, "nom": c} for c in ("59", "62")])
        for state in states:
            row = transfer_row(state=state, dossier_sha256="0" * 64)
            conn.execute(insert(Transfer).values(row))
    command.upgrade(config, "head")
    with engine.connect() as conn:
        kept = conn.execute(select(Transfer.state).where(Transfer.dossier_sha256.is_not(None)))
        still = sorted(kept.scalars())
    engine.dispose()
    assert still == ["failed", "received", "validating"]


def test_positions_stay_unique_per_destination_once_given_and_only_those_are_indexed(
    empty_database: str,
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0016")
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(insert(Departement), [{"code": c, "nom": c} for c in ("59", "62")])
        conn.execute(insert(Transfer).values(transfer_row(state="ready", inbound_seq=1)))
    command.upgrade(config, "head")
    with engine.begin() as conn:
        for _ in range(2):  # not given yet: neither indexed nor in each other's way
            conn.execute(insert(Transfer).values(transfer_row(state="received")))
        definition = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
            {"name": "uq_transfers_dest_code_inbound_seq"},
        ).scalar_one()
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Transfer).values(transfer_row(state="ready", inbound_seq=1)))
    engine.dispose()
    assert definition.endswith("WHERE (inbound_seq IS NOT NULL)")


def test_keys_stay_unique_per_sender_once_given_and_only_those_are_indexed(
    empty_database: str,
) -> None:
    """0020: the key's unique index holds the keyed transfers, `warn_at` none; a downgrade
    puts the constraint and the index back."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0019")
    engine = create_engine(empty_database)
    indexes = text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'transfers'")
    with engine.begin() as conn:
        conn.execute(insert(Departement), [{"code": c, "nom": c} for c in ("59", "62")])
        conn.execute(
            insert(Transfer.__table__).values(transfer_row(state="received", idempotency_key="k"))
        )
    command.upgrade(config, "0020")
    with engine.begin() as conn:
        for _ in range(2):  # without a key: never in each other's way
            conn.execute(insert(Transfer.__table__).values(transfer_row(state="received")))
        conn.execute(
            insert(Transfer.__table__).values(
                transfer_row(state="received", origin_code="62", idempotency_key="k")
            )
        )
        upgraded = dict(conn.execute(indexes).tuples().all())
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(Transfer.__table__).values(transfer_row(state="received", idempotency_key="k"))
        )
    command.downgrade(config, "0019")
    with engine.connect() as conn:
        downgraded = dict(conn.execute(indexes).tuples().all())
    engine.dispose()
    assert upgraded["uq_transfers_origin_code_idempotency_key_given"].endswith(
        "(origin_code, idempotency_key) WHERE (idempotency_key IS NOT NULL)"
    )
    assert "ix_transfers_warn_at" not in upgraded
    assert "uq_transfers_origin_code_idempotency_key" not in upgraded
    assert downgraded["uq_transfers_origin_code_idempotency_key"].endswith(
        "(origin_code, idempotency_key)"
    )
    assert "ix_transfers_warn_at" in downgraded


def test_the_sealed_dossier_column_is_stored_out_of_line_and_kept_by_a_downgrade(
    empty_database: str,
) -> None:
    """Ciphertext is not compressed (storage `e`, external); a downgrade that would drop a
    transfer's only copy of its dossier is refused, and goes once none is held."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0017")
    engine = create_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(insert(Departement), [{"code": c, "nom": c} for c in ("59", "62")])
        conn.execute(insert(Transfer.__table__).values(transfer_row(state="received")))
    command.upgrade(config, "head")
    with engine.begin() as conn:
        storage = conn.exec_driver_sql(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = 'transfers'::regclass AND attname = 'sealed_dossier'"
        ).scalar_one()
        assert conn.execute(select(Transfer.sealed_dossier)).scalars().all() == [None]
        conn.execute(
            insert(Transfer.__table__).values(
                transfer_row(state="received", sealed_dossier=b"sealed")
            )
        )
    with pytest.raises(RuntimeError, match="1 transfert"):
        command.downgrade(config, "0017")
    with engine.begin() as conn:
        conn.execute(Transfer.__table__.update().values(sealed_dossier=None))
    command.downgrade(config, "0017")
    engine.dispose()
    assert storage == "e"
