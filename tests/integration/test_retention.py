"""Package retention with a controllable clock: envelopes deleted after the delay, statistics
metadata kept, undownloaded packages flagged once, every deletion audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from flows import MEDICAL_PDF, ready
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import bearer, files_under

from mdph_bridge.extensions import Backends
from mdph_bridge.models import AuditEntry, Transfer, utcnow
from mdph_bridge.services.admin import add_departement
from mdph_bridge.services.audit import seal_all, verify
from mdph_bridge.services.retention import (
    delete_expired_packages,
    expired_packages,
    flag_undownloaded,
)

pytestmark = pytest.mark.integration
KEEP = timedelta(days=30)
# A hub's shape: 20,000 transfers finished over two years, their packages deleted, but for the
# last 200 (finished 20 to 40 days ago); analysed, as autovacuum keeps a real table.
HISTORY = """
INSERT INTO transfers (id, origin_code, dest_code, state, numero_dossier_origine, motif,
    submitted_at, warn_at, due_at, state_changed_at, attempts, staging_key_id, problems, warnings,
    sender_wait_seconds, package_key, packages_deleted_at)
SELECT gen_random_uuid(), '59', '62', 'completed', 'B-' || g, 'demenagement', at, at, at, at, 1,
    'k', '[]', '[]', 0, CASE WHEN g <= 200 THEN 'packages/' || g END,
    CASE WHEN g > 200 THEN at + interval '30 days' END
FROM generate_series(1, 20000) AS g,
    LATERAL (SELECT now() - (20 + g / 10.0) * interval '1 day' AS at) AS t
"""


def audited(session: Session, action: str) -> list[str | None]:
    """The objects of the sealed entries of `action` (what is pending is sealed first)."""
    seal_all(session, current_app.config["SIGNER"])
    query = select(AuditEntry.object_id).where(AuditEntry.action == action)
    return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_packages_are_deleted_after_the_delay_and_metadata_stays(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = ready(app, client, demo, backends, medical={"certificat.pdf": MEDICAL_PDF})
    kept = ready(app, client, demo, backends)  # still ready: never deleted
    cancel = client.post(
        f"/api/v1/transfers/{transfer_id}/cancel",
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert cancel.status_code == 200
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    finished_at, size, sha = (
        transfer.state_changed_at,
        transfer.package_size,
        transfer.package_sha256,
    )
    packages = backends.storage.root / "packages"

    def transfers_with_packages() -> set[str]:
        return {p.relative_to(packages).parts[0][:36] for p in files_under(packages)}

    assert transfers_with_packages() == {str(transfer_id), str(kept)}

    assert delete_expired_packages(session, backends.storage, KEEP, finished_at + KEEP / 2) == []
    late = finished_at + KEEP + timedelta(seconds=1)
    assert delete_expired_packages(session, backends.storage, KEEP, late) == [transfer_id]
    assert transfers_with_packages() == {str(kept)}
    transfer = session.get(Transfer, transfer_id, populate_existing=True)
    assert (transfer.package_key, transfer.medical_package_key) == (None, None)
    assert (transfer.package_size, transfer.package_sha256) == (size, sha)  # for statistics
    assert transfer.packages_deleted_at == late
    assert delete_expired_packages(session, backends.storage, KEEP, late + KEEP) == []
    assert audited(session, "package.delete") == [str(transfer_id)]
    assert verify(session).ok


def test_a_batch_reads_the_transfers_holding_packages_not_the_whole_table(
    session: Session,
) -> None:
    for code in ("59", "62"):
        add_departement(session, code, code)
    connection = session.connection()
    connection.exec_driver_sql(HISTORY)
    connection.exec_driver_sql("ANALYZE transfers")
    batch = expired_packages(KEEP, utcnow()).compile(
        connection, compile_kwargs={"literal_binds": True}
    )

    def plan() -> str:
        return "\n".join(connection.exec_driver_sql(f"EXPLAIN {batch}").scalars())

    indexed = plan()
    connection.exec_driver_sql("DROP INDEX IF EXISTS ix_transfers_packages_held")  # rolled back
    without = plan()
    session.rollback()
    assert re.search(r"Index Scan (using|on) ix_transfers_packages_held\b", indexed), indexed
    assert "Seq Scan" not in indexed, indexed
    assert "Seq Scan on transfers" in without, without  # what it read before migration 0019


def test_a_package_never_downloaded_is_flagged_once(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    transfer_id = ready(app, client, demo, backends)
    ready_at = session.get(Transfer, transfer_id).ready_at
    after = timedelta(days=5)
    assert flag_undownloaded(session, after, ready_at + after - timedelta(minutes=1)) == []
    assert flag_undownloaded(session, after, ready_at + after + timedelta(minutes=1)) == [
        transfer_id
    ]
    assert flag_undownloaded(session, after, ready_at + 2 * after) == []
    assert audited(session, "package.undownloaded") == [str(transfer_id)]


def test_packages_are_deleted_in_either_layout(
    app: Flask, client: FlaskClient, demo: dict[str, Any], backends: Backends, session: Session
) -> None:
    """Named after their transfer, or in its folder `packages/<id>/` (before 2026-12-05) with
    what interrupted attempts left there: the folder goes whole."""
    storage = backends.storage
    ids = [ready(app, client, demo, backends) for _ in range(2)]
    for transfer_id, key in zip(
        ids,
        (f"packages/{ids[0]}.tok-dossier.age", f"packages/{ids[1]}/tok-dossier.age"),
        strict=True,
    ):
        cancel = client.post(
            f"/api/v1/transfers/{transfer_id}/cancel",
            headers=bearer(demo["59"]["jetons"]["caseworker"]),
        )
        assert cancel.status_code == 200
        transfer = session.get(Transfer, transfer_id, populate_existing=True)
        assert transfer is not None
        storage.move(transfer.package_key, key)  # type: ignore[arg-type]
        transfer.package_key = key
    with storage.writer(f"packages/{ids[1]}/dead-dossier.age") as blob:
        blob.write(b"an interrupted attempt's package")
    session.commit()

    late = utcnow() + KEEP + timedelta(seconds=1)
    assert sorted(delete_expired_packages(session, storage, KEEP, late)) == sorted(ids)
    assert list((storage.root / "packages").iterdir()) == []
