"""The statements run on the driver send what SQLAlchemy's own execution would send.

`services/driver.py` compiles a statement once and applies its bind processors itself; this
catches a drift on a SQLAlchemy upgrade (the processors are read from the compiled statement).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from mdph_bridge.extensions import Backends
from mdph_bridge.models import utcnow
from mdph_bridge.services import driver, processing, submission
from mdph_bridge.services.driver import DriverStatement, autocommitted

pytestmark = pytest.mark.integration


def _claim_values() -> dict[str, Any]:
    now = utcnow()
    return {
        "transfer_id": uuid.uuid4(),
        "max": 5,
        "now": now,
        "token": uuid.uuid4().hex,
        "until": now + timedelta(minutes=15),
    }


def _ready_values() -> dict[str, Any]:
    package = {
        "package_key": "packages/x/y-dossier.age",
        "package_size": 1234,
        "package_sha256": "ab" * 32,
        "package_key_ids": ["62-chiffrement-1"],
        "medical_package_key": None,
        "medical_package_size": None,
        "medical_package_sha256": None,
        "medical_package_key_ids": None,
        "manifest": {"signature": "c2ln", "contenu": {"a": [1, "é"]}},
        "harmonisation": {"droits": [{"code": "AAH", "suite": "continue"}]},
    }
    values: dict[str, Any] = {f"b_{name}": value for name, value in package.items()}
    return values | {"transfer_id": uuid.uuid4(), "token": "t", "now": utcnow(), "dest": "62"}


def _submission_values() -> dict[str, Any]:
    now = utcnow()
    row = {
        "id": uuid.uuid4(),
        "origin_code": "59",
        "dest_code": "62",
        "state": "received",
        "idempotency_key": None,
        "request_digest": "cd" * 32,
        "submitted_by": uuid.uuid4(),
        "submitted_at": now,
        "warn_at": now + timedelta(days=10),
        "due_at": now + timedelta(days=15),
        "state_changed_at": now,
        "attempts": 0,
        "sender_wait_seconds": 0,
        "problems": [],
        "numero_dossier_origine": "59-2026-1",
        "warnings": [{"code": "w", "message": "é"}],
        "motif": "demenagement",
        "staging_key_id": "staging-1",
        "dossier_sha256": "ef" * 32,
    }
    documents = [
        {
            "position": 0,
            "type_piece": "justificatif_domicile",
            "medical": False,
            "size": 123,
            "sha256": "01" * 32,
            "mime": "application/pdf",
        },
        {
            "position": 1,
            "type_piece": "certificat_medical",
            "medical": True,
            "size": 4567,
            "sha256": "23" * 32,
            "mime": "image/png",
        },
    ]
    audit = {
        "audit_at": now,
        "audit_actor": str(uuid.uuid4()),
        "audit_role": "caseworker",
        "audit_departement": "59",
        "audit_action": "transfers.create",
        "audit_object_type": "transfer",
        "audit_object_id": None,
    }
    return {**row, "documents": documents, "event_actor": "59/caseworker/t", **audit}


def _comparable(params: dict[str, Any]) -> dict[str, Any]:
    """psycopg's JSON wrappers have no equality: compared by their type and what they wrap."""
    return {k: (type(v), v.obj) if hasattr(v, "obj") else v for k, v in params.items()}


_SUBMISSION = _submission_values()
_SUBMITTED = submission._create_in_one_statement(
    tuple(k for k in _SUBMISSION if k != "documents" and not k.startswith(("event_", "audit_"))),
    True,
)


@pytest.mark.parametrize(
    ("statement", "values"),
    [
        (processing._CLAIM_WITH_EVENT, _claim_values()),
        (processing._READY_WITH_EVENT, _ready_values()),
        (_SUBMITTED, _SUBMISSION),
        (submission._KEYED, {"origin": "59", "key": "k-1"}),
    ],
    ids=["claim", "ready", "submission", "idempotency-key"],
)
def test_a_driver_statement_sends_what_sqlalchemy_would(
    backends: Backends,
    demo: dict[str, Any],
    statement: DriverStatement,
    values: dict[str, Any],
) -> None:
    engine = backends.engine
    sent: list[tuple[str, dict[str, Any]]] = []

    def seen(conn: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
        sent.append((sql, dict(params)))

    with engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", seen)
        transaction = conn.begin()
        conn.execute(statement._statement, values)  # rolled back; the others touch no row
        transaction.rollback()

    compiled = statement.compiled(engine.dialect)
    [(sql, params)] = sent
    assert compiled.sql == sql
    # The parameters a statement takes as given are wrapped by its caller (the `ready`'s JSON).
    given = {k: processing._as_json(v) if k in statement._given else v for k, v in values.items()}
    assert _comparable(compiled.params(given)) == _comparable(params)


def _kept_cursor(backends: Backends) -> Any:
    """The driver cursor the pool's one connection keeps, if any."""
    pooled = backends.engine.raw_connection()
    try:
        return pooled.info.get(driver._CURSOR)
    finally:
        pooled.close()


def test_a_long_result_leaves_with_its_cursor_a_short_one_stays(backends: Backends) -> None:
    """An inbound page's rows are not kept in memory with an idle connection; a claim's row is,
    with the cursor the next statement reuses."""
    backends.engine.dispose()  # one connection, reused by every statement below
    series = "SELECT generate_series(1, %(rows)s)"

    assert len(autocommitted(backends.engine, series, {"rows": 3})) == 3
    kept = _kept_cursor(backends)
    assert len(autocommitted(backends.engine, series, {"rows": 500})) == 500
    assert kept is not None
    assert kept.closed
    assert kept.pgresult is None
    assert _kept_cursor(backends) is None
    autocommitted(backends.engine, series, {"rows": 1})
    assert _kept_cursor(backends) is not None
