"""Deadline alerts through a real SMTP server (aiosmtpd): each alert is sent exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from histories import add_transfer
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import free_port, hub_settings

from mdph_bridge import create_app
from mdph_bridge.domain.states import State
from mdph_bridge.models import TransferAlert
from mdph_bridge.services import alerts
from mdph_bridge.services.alerts import AlertSettings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
RECIPIENTS = {
    "59": ("cellule@mdph59.example",),
    "62": ("accueil@mdph62.example", "chef@mdph62.example"),
    "plateforme": ("exploitation@hub.example",),
}


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )  # type: ignore[arg-type]

        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    """A real SMTP server on a free local port, and its URL."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


def settings(smtp_url: str, webhook_url: str = "") -> AlertSettings:
    return AlertSettings(
        RECIPIENTS, smtp_url, "mdph-bridge@hub.example", "https://hub.example", webhook_url
    )


@pytest.fixture
def history(session: Session, demo: dict[str, Any]) -> dict[str, Any]:
    """Open and closed transfers at every level on NOW."""
    ids = {
        # submitted 11 days ago, waiting for 62 to download: at risk, 62 must act
        "at_risk": add_transfer(
            session, "59", "62", NOW - timedelta(days=11), {State.READY: NOW - timedelta(days=10)}
        ),
        # submitted 16 days ago, rejected: late, 59 must correct
        "late": add_transfer(session, "59", "62", NOW - timedelta(days=16), state=State.REJECTED),
        # completed late: the clock stopped, no alert
        "done": add_transfer(
            session,
            "59",
            "62",
            NOW - timedelta(days=30),
            {State.READY: NOW - timedelta(days=29), State.COMPLETED: NOW - timedelta(days=5)},
        ),
        # two days old: nothing yet
        "young": add_transfer(session, "59", "62", NOW - timedelta(days=2)),
    }
    session.commit()
    return ids


def alert_rows(session: Session) -> list[tuple[Any, str, str]]:
    session.expire_all()
    rows = session.execute(
        select(TransferAlert.transfer_id, TransferAlert.level, TransferAlert.side)
    )
    return sorted((r[0], r[1], r[2]) for r in rows)


def restarted(app: Flask, tmp_path: Path) -> Flask:
    """Another hub process on the same database: fresh engine, no state in memory."""
    return create_app(
        hub_settings(tmp_path / "other", app.config["DATABASE_URL"], app.config["BROKER_URL"])
    )


def test_each_alert_goes_once_to_the_side_that_must_act_across_beats_and_a_restart(
    app: Flask, session: Session, history: dict[str, Any], smtp: tuple[Inbox, str], tmp_path: Path
) -> None:
    inbox, url = smtp
    assert alerts.run(session, settings(url), NOW) == (2, 2)
    assert alerts.run(session, settings(url), NOW + timedelta(minutes=5)) == (0, 0)
    other = restarted(app, tmp_path)
    with other.app_context():
        other_session = other.extensions["mdph_bridge"].sessions()
        assert alerts.run(other_session, settings(url), NOW + timedelta(minutes=10)) == (0, 0)
        other.extensions["mdph_bridge"].sessions.remove()
    other.extensions["mdph_bridge"].engine.dispose()

    assert alert_rows(session) == sorted(
        [(history["at_risk"], "a_risque", "destination"), (history["late"], "en_retard", "origine")]
    )
    by_recipients = {tuple(to): message for to, message in inbox.messages}
    assert set(by_recipients) == {RECIPIENTS["62"], RECIPIENTS["59"]}
    risk = by_recipients[RECIPIENTS["62"]]
    body = risk.get_content()
    assert risk["Subject"] == "[mdph_bridge] À risque : transfert 59 → 62, jour 11"
    assert str(history["at_risk"]) in body
    assert f"Lien : https://hub.example/recus/{history['at_risk']}\r\n" in body
    assert "MDPH d'accueil" in body
    assert "59-2026-0001" not in body  # not even the origin's file number
    late = by_recipients[RECIPIENTS["59"]]
    assert late["Subject"] == "[mdph_bridge] En retard : transfert 59 → 62, jour 16"
    assert f"Lien : https://hub.example/envois/{history['late']}\r\n" in late.get_content()
    # Each link opens the transfer's page of the side that must act.
    pages = app.url_map.bind("hub.example")
    assert pages.match(f"/recus/{history['at_risk']}")[0] == "recus.transfert"
    assert pages.match(f"/envois/{history['late']}")[0] == "envois.transfert"

    # Five days later the first transfer is late too: one more alert, once.
    later = NOW + timedelta(days=5)
    assert alerts.run(session, settings(url), later) == (1, 1)
    assert alerts.run(session, settings(url), later) == (0, 0)
    assert len(inbox.messages) == 3
    assert inbox.messages[-1][1]["Subject"].startswith(
        "[mdph_bridge] En retard : transfert 59 → 62"
    )


def test_an_alert_decided_before_a_crash_is_sent_once_after_the_restart(
    app: Flask, session: Session, history: dict[str, Any], smtp: tuple[Inbox, str], tmp_path: Path
) -> None:
    inbox, url = smtp
    assert alerts.decide(session, NOW) == 2  # the process dies here, before sending
    assert inbox.messages == []
    other = restarted(app, tmp_path)
    with other.app_context():
        other_session = other.extensions["mdph_bridge"].sessions()
        assert alerts.run(other_session, settings(url), NOW) == (0, 2)
        assert alerts.run(other_session, settings(url), NOW) == (0, 0)
        other.extensions["mdph_bridge"].sessions.remove()
    other.extensions["mdph_bridge"].engine.dispose()
    assert len(inbox.messages) == 2


def test_an_unreachable_smtp_server_delays_the_alert_without_losing_it(
    session: Session, history: dict[str, Any], smtp: tuple[Inbox, str]
) -> None:
    inbox, url = smtp
    down = f"smtp://127.0.0.1:{free_port()}"
    assert alerts.run(session, settings(down), NOW) == (2, 0)
    session.expire_all()
    assert [a.attempts for a in session.scalars(select(TransferAlert))] == [1, 1]
    assert alerts.run(session, settings(url), NOW) == (0, 2)
    assert alerts.run(session, settings(url), NOW) == (0, 0)
    assert len(inbox.messages) == 2


class Hooks(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_webhook_gets_each_alert_once_without_personal_data(
    session: Session, history: dict[str, Any], smtp: tuple[Inbox, str]
) -> None:
    _, url = smtp
    Hooks.received = []
    server = HTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook = f"http://127.0.0.1:{server.server_port}/alertes"
    try:
        alerts.run(session, settings(url, hook), NOW)
        alerts.run(session, settings(url, hook), NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p["transfert"] for p in Hooks.received) == sorted(
        [str(history["at_risk"]), str(history["late"])]
    )
    assert set(Hooks.received[0]) == {
        "alerte", "transfert", "niveau", "etat", "cote_a_agir", "mdph_origine",
        "mdph_destination", "age_jours", "echeance", "lien",
    }  # fmt: skip


def test_two_beats_at_once_still_send_each_alert_once(
    app: Flask, session: Session, history: dict[str, Any], smtp: tuple[Inbox, str], tmp_path: Path
) -> None:
    inbox, url = smtp
    for _ in range(20):  # more alerts, so that the two runs overlap
        add_transfer(
            session, "59", "62", NOW - timedelta(days=12), {State.READY: NOW - timedelta(days=11)}
        )
    session.commit()
    others = [restarted(app, tmp_path / str(i)) for i in range(2)]
    barrier = threading.Barrier(2)
    results: list[tuple[int, int]] = []

    def beat(other: Flask) -> None:
        with other.app_context():
            barrier.wait()
            results.append(
                alerts.run(other.extensions["mdph_bridge"].sessions(), settings(url), NOW)
            )
            other.extensions["mdph_bridge"].sessions.remove()

    threads = [threading.Thread(target=beat, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for other in others:
        other.extensions["mdph_bridge"].engine.dispose()
    assert sum(decided for decided, _ in results) == 22
    assert sum(mailed for _, mailed in results) == 22
    assert len(inbox.messages) == 22
