"""Tell administrators by e-mail that an account was locked: the sign-in page never says so."""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import datetime
from email.message import EmailMessage

from mdph_bridge.models import Account
from mdph_bridge.services.alerts import AlertSettings, send_mail

log = logging.getLogger(__name__)
PLATFORM = "plateforme"


def recipients_of(settings: AlertSettings, codes: list[str]) -> tuple[str, ...]:
    """The alert addresses of the account's départements and of the platform's operators."""
    found = [a for owner in (*codes, PLATFORM) for a in settings.recipients.get(owner, ())]
    return tuple(dict.fromkeys(found))


def compose(
    settings: AlertSettings, login: str, until: datetime, to: tuple[str, ...]
) -> EmailMessage:
    """Write the notice in French: which account, until when, how to unlock it."""
    message = EmailMessage()
    message["Subject"] = f"[mdph_bridge] Compte {login} verrouillé après des essais refusés"
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message.set_content(
        f"Le compte {login} a été verrouillé jusqu'au {until:%d/%m/%Y %H:%M} UTC après plusieurs "
        "essais de connexion refusés.\n\n"
        "Si la personne n'en est pas à l'origine, quelqu'un essaie peut-être de deviner son mot "
        "de passe. Un administrateur peut le déverrouiller plus tôt avec "
        f"« mdph-bridge accounts enable {login} », ou lui donner un nouveau mot de passe avec "
        f"« mdph-bridge accounts password {login} ».\n"
    )
    return message


def _send(settings: AlertSettings, to: tuple[str, ...], message: EmailMessage) -> None:
    try:
        send_mail(settings, to, message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("lock notice not sent: %s", type(exc).__name__)


def notify_lock(settings: AlertSettings, account: Account) -> None:
    """Send the notice in the background: the refused sign-in answers as fast as any other."""
    to = recipients_of(settings, account.codes)
    if not to or account.locked_until is None:
        log.warning("account locked, no alert address configured to tell it (ALERT_EMAILS)")
        return
    message = compose(settings, account.login, account.locked_until, to)
    threading.Thread(target=_send, args=(settings, to, message), daemon=True).start()
