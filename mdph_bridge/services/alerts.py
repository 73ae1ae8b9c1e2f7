"""Deadline alerts: decide once per transfer and level, then mail the side that must act.

The decision is a row of `transfer_alerts` (unique per transfer and level), inserted in one
transaction; delivery then takes each undelivered row under a row lock, sends, and records it.
Repeated beats, concurrent beats and restarts therefore send each alert once; only a crash between
the SMTP server's acceptance and the commit can repeat one (same Message-ID, so it is recognisable).
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, case, exists, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mdph_bridge.domain.clock import (
    LEVEL_LABELS,
    SIDE_TO_ACT,
    STOPPED,
    Level,
    Side,
    days,
)
from mdph_bridge.domain.states import LABELS, OPEN, State
from mdph_bridge.models import Transfer, TransferAlert

log = logging.getLogger(__name__)
HUB = Side.HUB.value
TIMEOUT_SECONDS = 10
# The page where the side that must act finds the transfer (routes of `mdph_bridge.web`): the
# receiver's for the destination, the sender's otherwise (the hub's operators follow it from there).
PAGES = {Side.DESTINATION.value: "/recus/{id}"}
SENDER_PAGE = "/envois/{id}"
SIDE_NAMES = {
    Side.ORIGIN: "MDPH d'origine",
    Side.DESTINATION: "MDPH d'accueil",
    Side.HUB: "exploitants de la plateforme",
}


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go: addresses per département (or `plateforme`), SMTP server, webhook."""

    recipients: Mapping[str, tuple[str, ...]]
    smtp_url: str
    sender: str
    public_url: str
    webhook_url: str = ""


def _side_case() -> Any:
    """SQL expression giving the side that must act in the transfer's current state."""
    return case(
        *(
            (Transfer.state == state.value, side.value)
            for state, side in SIDE_TO_ACT.items()
            if side
        ),
        else_=literal(HUB),
    )


def decide(session: Session, now: datetime) -> int:
    """Record the alerts due at `now` (at risk, or late) for open transfers; return how many."""
    level = case((Transfer.due_at <= now, Level.LATE.value), else_=Level.AT_RISK.value)
    already = exists().where(
        TransferAlert.transfer_id == Transfer.id, TransferAlert.level == Level.LATE.value
    )
    due = select(Transfer.id, level, Transfer.state, _side_case(), literal(now), literal(0)).where(
        Transfer.warn_at <= now,
        Transfer.state.in_([s.value for s in OPEN]),  # few rows, found by the state index
        ~already,  # once late, an at-risk alert would come after the fact
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    columns = ["transfer_id", "level", "state", "side", "created_at", "attempts"]
    insert = dialect.insert(TransferAlert).from_select(columns, due)
    # RETURNING counts the rows: the driver reports no row count for INSERT … SELECT here.
    decided = len(
        session.execute(
            insert.on_conflict_do_nothing(index_elements=["transfer_id", "level"]).returning(
                TransferAlert.id
            )
        ).all()
    )
    session.commit()
    return decided


def deliver(session: Session, settings: AlertSettings, now: datetime) -> int:
    """Send every undelivered alert once, each under its own row lock; return how many were sent."""
    pending: ColumnElement[bool] = TransferAlert.mailed_at.is_(None)
    if settings.webhook_url:
        pending = or_(pending, TransferAlert.webhook_at.is_(None))
    sent, last_id = 0, 0
    while True:
        row = session.execute(
            select(TransferAlert, Transfer)
            .join(Transfer, Transfer.id == TransferAlert.transfer_id)
            .where(TransferAlert.id > last_id, pending)
            .order_by(TransferAlert.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=TransferAlert)
        ).first()
        if row is None:
            session.commit()
            return sent
        alert, transfer = row
        last_id = alert.id
        sent += _deliver_one(alert, transfer, settings, now)
        session.commit()


def _deliver_one(
    alert: TransferAlert, transfer: Transfer, settings: AlertSettings, now: datetime
) -> int:
    """Send one alert by each pending channel; a failed channel is retried at the next beat."""
    if transfer.state in STOPPED:  # completed or cancelled since the decision: nothing to do
        alert.mailed_at = alert.webhook_at = now
        return 0
    facts = describe(alert, transfer, settings, now)
    delivered = 0
    if alert.mailed_at is None:
        owner = _owner(alert, transfer)
        addresses = settings.recipients.get(owner, ())
        try:
            if addresses:
                send_mail(settings, addresses, compose(alert, facts, settings, addresses))
                delivered = 1
            else:
                log.warning("alert %s: no address configured for %s, not mailed", alert.id, owner)
            alert.mailed_at = now
        except (OSError, smtplib.SMTPException) as exc:
            alert.attempts += 1
            # The exception's text may quote addresses: log its type only.
            log.warning(
                "alert %s not mailed (attempt %d): %s", alert.id, alert.attempts, type(exc).__name__
            )
    if settings.webhook_url and alert.webhook_at is None:
        try:
            post_webhook(settings.webhook_url, facts)
            alert.webhook_at = now
        except OSError as exc:
            log.warning("alert %s not posted to the webhook: %s", alert.id, type(exc).__name__)
    return delivered


def _owner(alert: TransferAlert, transfer: Transfer) -> str:
    """Whose addresses receive the alert: the département that must act, or the hub."""
    return {
        Side.ORIGIN.value: transfer.origin_code,
        Side.DESTINATION.value: transfer.dest_code,
    }.get(alert.side, HUB)


def describe(
    alert: TransferAlert, transfer: Transfer, settings: AlertSettings, now: datetime
) -> dict[str, Any]:
    """The facts of an alert: ids, codes, dates and figures only, never personal data."""
    path = PAGES.get(alert.side, SENDER_PAGE).format(id=transfer.id)
    return {
        "alerte": alert.id,
        "transfert": str(transfer.id),
        "niveau": alert.level,
        "etat": alert.state,
        "cote_a_agir": alert.side,
        "mdph_origine": transfer.origin_code,
        "mdph_destination": transfer.dest_code,
        "age_jours": days(now - transfer.submitted_at),
        "echeance": transfer.due_at.isoformat(),
        "lien": settings.public_url.rstrip("/") + path,
    }


def compose(
    alert: TransferAlert, facts: dict[str, Any], settings: AlertSettings, to: tuple[str, ...]
) -> EmailMessage:
    """Write the alert e-mail in French."""
    level = LEVEL_LABELS[Level(alert.level)]
    pair = f"{facts['mdph_origine']} → {facts['mdph_destination']}"
    due = datetime.fromisoformat(facts["echeance"]).strftime("%d/%m/%Y %H:%M UTC")
    message = EmailMessage()
    message["Subject"] = f"[mdph_bridge] {level} : transfert {pair}, jour {int(facts['age_jours'])}"
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message["Message-ID"] = f"<alerte-{alert.id}-{facts['transfert']}@mdph-bridge>"
    message.set_content(
        f"Transfert {facts['transfert']} (MDPH {pair}) : {level.lower()}.\n\n"
        f"Âge : {facts['age_jours']} jours depuis le dépôt ; échéance : {due}.\n"
        f"État : {LABELS[State(alert.state)]}.\n"
        f"À faire par : {SIDE_NAMES[Side(alert.side)]}.\n"
        f"Lien : {facts['lien']}\n\n"
        "Ce message ne contient aucune donnée personnelle ; le dossier se consulte sur la "
        "plateforme.\n"
    )
    return message


def send_mail(settings: AlertSettings, to: tuple[str, ...], message: EmailMessage) -> None:
    """Send through the configured server: smtp://, smtp+starttls:// or smtps://[user:pass@]host."""
    url = urlsplit(settings.smtp_url)
    if url.scheme not in ("smtp", "smtp+starttls", "smtps"):
        raise smtplib.SMTPException(f"unsupported SMTP URL scheme {url.scheme!r}")
    host = url.hostname or "localhost"
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, url.port or 25, timeout=TIMEOUT_SECONDS)
    with client:
        if url.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
        client.send_message(message, to_addrs=list(to))


def post_webhook(url: str, facts: dict[str, Any]) -> None:
    """POST the alert's facts as JSON; any non-2xx answer is a failure."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OSError(f"unsupported webhook URL scheme in {url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(facts, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered {response.status}")


def settings_from(config: Mapping[str, Any]) -> AlertSettings:
    """Read the alert settings from the app configuration."""
    return AlertSettings(
        recipients=config["ALERT_RECIPIENTS"],
        smtp_url=config["SMTP_URL"],
        sender=config["ALERT_FROM"],
        public_url=config["PUBLIC_URL"],
        webhook_url=config["ALERT_WEBHOOK_URL"],
    )


def run(session: Session, settings: AlertSettings, now: datetime) -> tuple[int, int]:
    """Decide the alerts due now, then deliver the pending ones: (decided, mailed)."""
    return decide(session, now), deliver(session, settings, now)
