"""Accounts: the CNIL 2022 password policy, and the e-mail telling a lock-out to administrators."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy.orm import Session
from support import AGENT_PASSWORD, csrf_token, free_port, same_hub

from mdph_bridge import create_app
from mdph_bridge.domain.passwords import password_problems
from mdph_bridge.services.accounts import (
    Lockout,
    SignInError,
    create_account,
    generate_password,
    sign_in,
)
from mdph_bridge.services.alerts import AlertSettings
from mdph_bridge.services.lock_notice import notify_lock

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",
        "123456789012",
        "motdepasse12",
        "azertyuiopqs",
        "Motdepasse2024!",  # the four classes, but a known password with a year
        "Azertyuiop123!",  # a keyboard row
        "Court1!",
        "m.dupont-Xk9#mP2$vL7q",  # contains the login
    ],
)
def test_weak_common_or_login_passwords_are_refused(password: str) -> None:
    assert password_problems(password, "m.dupont")


@pytest.mark.parametrize(
    "password",
    [
        "Xk9#mP2$vL7q",  # 12 characters, four classes
        "Vq7TnR2wLp9sKd",  # 14 characters, three classes
        "galet ombre violon tisane marche cuivre orage",  # a passphrase of 7 words
        AGENT_PASSWORD,
    ],
)
def test_strong_passwords_are_accepted(password: str) -> None:
    assert password_problems(password, "m.dupont") == []


def test_generated_passwords_follow_the_policy() -> None:
    assert all(password_problems(generate_password(), "") == [] for _ in range(50))


def test_an_account_cannot_be_created_with_its_login_as_password(
    session: Session, demo: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="ne doit pas contenir l'identifiant"):
        create_account(session, "motdepasse12", "caseworker", ["59"], "motdepasse12")
    with pytest.raises(ValueError, match="trop faible"):
        create_account(session, "x.y", "caseworker", ["59"], "aaaaaaaaaaaa")


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        body = message_from_bytes(envelope.content, policy=default).get_content()
        self.messages.append((list(envelope.rcpt_tos), body))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


def test_a_lock_out_is_mailed_to_the_departement_and_the_operators_once(
    session: Session, demo: dict[str, Any], smtp: tuple[Inbox, str]
) -> None:
    inbox, url = smtp
    recipients = {"59": ("cellule@mdph59.example",), "plateforme": ("exploitation@hub.example",)}
    settings = AlertSettings(recipients, url, "hub@hub.example", "https://hub.example")
    create_account(session, "m.martin", "caseworker", ["59"], AGENT_PASSWORD)
    lockout = Lockout(3, timedelta(minutes=15))
    for _ in range(5):
        with pytest.raises(SignInError) as refused:
            sign_in(session, "m.martin", "mauvais", lockout, lambda a: notify_lock(settings, a))
        assert refused.value.code == "compte.identifiants"
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a second notice, if one were wrongly sent, would have arrived by now
    assert len(inbox.messages) == 1
    to, text = inbox.messages[0]
    assert sorted(to) == ["cellule@mdph59.example", "exploitation@hub.example"]
    assert "Le compte m.martin a été verrouillé" in text
    assert "mdph-bridge accounts enable m.martin" in text


def test_the_sign_in_page_mails_the_lock_but_does_not_show_it(
    app: Flask, demo: dict[str, Any], session: Session, smtp: tuple[Inbox, str]
) -> None:
    inbox, url = smtp
    web = create_app(same_hub(app.config, ALERT_EMAILS="59=cellule@mdph59.example", SMTP_URL=url))
    create_account(session, "m.leroy", "caseworker", ["59"], AGENT_PASSWORD)
    client = web.test_client()
    for _ in range(web.config["SIGN_IN_MAX_FAILURES"]):
        token = csrf_token(client.get("/connexion").text)
        form = {"identifiant": "m.leroy", "mot_de_passe": "mauvais", "csrf_token": token}
        refused = client.post("/connexion", data=form)
        assert refused.status_code == 401
        assert "Identifiant ou mot de passe incorrect." in refused.text
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [to for to, _ in inbox.messages] == [["cellule@mdph59.example"]]
    assert "Le compte m.leroy a été verrouillé" in inbox.messages[0][1]
    web.extensions["mdph_bridge"].engine.dispose()
