"""The agents' pages through the Flask test client on PostgreSQL: sign-in, lock-out, CSRF, forms."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from dossiers import PDF, dossier, multipart
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from support import AGENT_PASSWORD, bearer, csrf_token, files_under, same_hub, sign_in
from test_processing import run

from mdph_bridge import create_app
from mdph_bridge.domain.age import generate_identity
from mdph_bridge.domain.states import State
from mdph_bridge.extensions import Backends
from mdph_bridge.models import Account, Transfer, utcnow
from mdph_bridge.services.audit import entries, seal_all, verify
from mdph_bridge.services.keys import register_key, revoke_key

pytestmark = pytest.mark.integration


def attempt(client: FlaskClient, login: str, password: str) -> Any:
    token = csrf_token(client.get("/connexion").text)
    return client.post(
        "/connexion", data={"identifiant": login, "mot_de_passe": password, "csrf_token": token}
    )


def refusal(html: str) -> str:
    """The text of the sign-in page's refusal block."""
    match = re.search(r'id="erreur-connexion">(.*?)</div>', html, re.S)
    assert match is not None
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split()))


def upload(
    client: FlaskClient,
    token: str,
    data: dict[str, Any] | bytes,
    files: dict[str, bytes],
    url: str,
    key: uuid.UUID | None = None,
) -> Any:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    form = {
        "csrf_token": token,
        "cle_envoi": str(key or uuid.uuid4()),
        "dossier": (io.BytesIO(raw), "dossier.json"),
        "pieces": [(io.BytesIO(content), name) for name, content in files.items()],
    }
    return client.post(url, data=form, content_type="multipart/form-data")


def messages(html: str, block: str) -> str:
    """The text of one error block of a page (`erreurs-dossier`, `erreurs-pieces`…)."""
    match = re.search(rf'id="{block}"[^>]*>(.*?)</div>', html, re.S)
    assert match is not None, f"no block {block}"
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))))


def test_wrong_password_then_lock_out_counted_in_the_database(
    web: Flask, agents: dict[tuple[str, str], str], session: Session
) -> None:
    client = web.test_client()
    login = agents[("59", "caseworker")]
    for _ in range(4):
        response = attempt(client, login, "mauvais mot de passe")
        assert response.status_code == 401
        assert "Identifiant ou mot de passe incorrect." in response.text
    locked = attempt(client, login, "mauvais mot de passe")
    # Locked: even the right password is refused, and the failures are in the database; the
    # page answers exactly as for an unknown login, so that it does not tell which logins exist.
    unknown = attempt(client, "personne-inconnue", "mauvais mot de passe")
    for refused in (locked, attempt(client, login, AGENT_PASSWORD), unknown):
        assert refused.status_code == 401
        assert refusal(refused.text) == "Connexion refusée Identifiant ou mot de passe incorrect."
    account = session.scalar(select(Account).where(Account.login == login))
    assert account is not None
    session.refresh(account)
    assert account.failed_attempts == 5
    assert account.locked_until is not None
    assert account.locked_until > utcnow() + timedelta(minutes=14)

    account.locked_until = utcnow() - timedelta(seconds=1)  # the lock-out has run out
    session.commit()
    sign_in(client, login)
    session.refresh(account)
    assert account.failed_attempts == 0


def test_unknown_login_gets_the_same_answer_as_a_wrong_password(
    web: Flask, agents: dict[tuple[str, str], str]
) -> None:
    response = attempt(web.test_client(), "personne", "quelque chose")
    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in response.text


def test_forms_without_the_csrf_token_are_refused(
    web: Flask, agents: dict[tuple[str, str], str], session: Session
) -> None:
    client = web.test_client()
    refused = client.post(
        "/connexion",
        data={"identifiant": agents[("59", "caseworker")], "mot_de_passe": AGENT_PASSWORD},
    )
    assert refused.status_code == 400
    assert "Le formulaire a expiré" in refused.text

    token = sign_in(client, agents[("59", "caseworker")])
    files = {"piece_identite.pdf": PDF}
    forged = upload(client, "jeton-forge", dossier(files=files), files, "/envois/nouveau")
    assert forged.status_code == 400
    assert "Le formulaire a expiré" in forged.text
    assert session.scalar(select(func.count()).select_from(Transfer)) == 0
    assert files_under(Path(web.config["STORAGE_DIR"])) == []  # the sealed parts were dropped
    # With the session's token the same form goes through.
    assert upload(client, token, dossier(files=files), files, "/envois/nouveau").status_code == 303


def test_validation_errors_are_shown_in_french_next_to_what_they_concern(
    web: Flask, agents: dict[tuple[str, str], str]
) -> None:
    client = web.test_client()
    token = sign_in(client, agents[("59", "caseworker")])
    data = dossier(files={"piece_identite.pdf": PDF, "jugement.pdf": PDF})
    response = upload(client, token, data, {"piece_identite.pdf": PDF + b"x"}, "/envois/nouveau")
    assert response.status_code == 422
    pieces = messages(response.text, "erreurs-pieces")
    assert "Pièce « jugement.pdf » : Aucun fichier n'a été envoyé" in pieces
    assert "Pièce « piece_identite.pdf » : Le contenu du fichier ne correspond pas" in pieces
    assert messages(response.text, "erreurs-dossier").strip() == ""
    assert "2 problèmes à corriger" in response.text

    data = dossier(files={"piece_identite.pdf": PDF})
    data["transfert"]["mdph_destination"] = "80"
    response = upload(client, token, data, {"piece_identite.pdf": PDF}, "/envois/nouveau")
    assert response.status_code == 422
    assert (
        "beneficiaire.adresse_nouvelle.code_postal : Le code postal 62000 est dans le "
        "département 62, pas dans celui de la MDPH de destination (80)"
    ) in messages(response.text, "erreurs-dossier")
    response = upload(client, token, b"{pas du json", {}, "/envois/nouveau")
    assert "n'est pas un JSON valide" in messages(response.text, "erreurs-dossier")


def test_sign_out_and_disabling_end_the_session_everywhere(
    web: Flask, agents: dict[tuple[str, str], str], session: Session
) -> None:
    client = web.test_client()
    token = sign_in(client, agents[("62", "receiver")])
    copy = web.test_client()
    cookie = client.get_cookie("mdph_session")
    assert cookie is not None
    copy.set_cookie("mdph_session", cookie.value)
    assert copy.get("/recus").status_code == 200
    assert "Vous êtes déconnecté" in client.post("/deconnexion", data={"csrf_token": token}).text
    assert copy.get("/recus").status_code == 302  # the copied cookie no longer opens a session

    token = sign_in(client, agents[("62", "receiver")])
    account = session.scalar(select(Account).where(Account.login == agents[("62", "receiver")]))
    assert account is not None
    from mdph_bridge.services.accounts import disable_account

    disable_account(session, account)
    assert client.get("/recus").status_code == 302


def test_session_cookie_is_httponly_lax_and_secure_over_tls(
    web: Flask, agents: dict[tuple[str, str], str]
) -> None:
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        client = web.test_client()
        token = csrf_token(client.get("/connexion", base_url=base).text)
        response = client.post(
            "/connexion",
            base_url=base,
            headers={"Referer": f"{base}/connexion"},
            data={
                "identifiant": agents[("59", "caseworker")],
                "mot_de_passe": AGENT_PASSWORD,
                "csrf_token": token,
            },
        )
        assert response.status_code == 303
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_receiver_acknowledges_completes_and_the_sender_sees_it(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
) -> None:
    sender = web.test_client()
    token = sign_in(sender, agents[("59", "caseworker")])
    files = {"piece_identite.pdf": PDF}
    sent = upload(sender, token, dossier(files=files), files, "/envois/nouveau")
    assert sent.status_code == 303
    transfer_id = uuid.UUID(sent.location.rsplit("/", 1)[1])
    page = sender.get(sent.location).text
    assert "Dossier envoyé" in page
    run(app, backends, transfer_id)

    receiver = web.test_client()
    token = sign_in(receiver, agents[("62", "receiver")])
    listing = receiver.get("/recus").text
    assert f"/recus/{transfer_id}" in listing
    assert "Nouveau" in listing
    base = f"/recus/{transfer_id}"
    too_early = receiver.post(f"{base}/accuse", data={"csrf_token": token})
    assert too_early.status_code == 409
    with receiver.get(f"{base}/paquet") as package:
        assert package.status_code == 200
        assert package.data.startswith(b"age-encryption.org/v1")
    assert receiver.post(f"{base}/accuse", data={"csrf_token": token}).status_code == 303
    empty = receiver.post(
        f"{base}/integration", data={"csrf_token": token, "numero_dossier_destination": ""}
    )
    assert empty.status_code == 422
    assert "La longueur doit être comprise entre 1 et 40" in messages(
        empty.text, "erreurs-integration"
    )
    done = receiver.post(
        f"{base}/integration",
        data={"csrf_token": token, "numero_dossier_destination": "62-2026-0042"},
        follow_redirects=True,
    )
    assert "Intégré par la MDPH d'accueil" in unescape(done.text)

    timeline = sender.get(f"/envois/{transfer_id}").text
    assert "confirmée par un agent sur la plateforme, sans reçu signé" in timeline
    assert "62-2026-0042" in timeline
    # By API, the sender learns that there is no signed receipt, and why.
    api = app.test_client().get(
        f"/api/v1/transfers/{transfer_id}/receipt",
        headers=bearer(demo["59"]["jetons"]["caseworker"]),
    )
    assert api.status_code == 404
    assert api.get_json()["erreurs"][0]["code"] == "transfert.recu_agent"


def test_a_rejected_transfer_is_corrected_from_its_page(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
    session: Session,
) -> None:
    client = web.test_client()
    token = sign_in(client, agents[("59", "caseworker")])
    files = {"piece_identite.pdf": PDF}
    sent = upload(client, token, dossier(files=files), files, "/envois/nouveau")
    transfer_id = uuid.UUID(sent.location.rsplit("/", 1)[1])
    revoke_key(session, demo["62"]["cles"]["receiver"]["id"])
    assert run(app, backends, transfer_id) == State.REJECTED

    page = unescape(client.get(sent.location).text)
    assert "Erreurs à corriger" in page
    assert "n'a pas de clé de réception valide" in page
    listing = client.get("/envois").text
    assert "Action requise" in listing

    _, recipient = generate_identity()
    register_key(session, "62", "receiver", recipient)  # 62 fixed its key
    url = f"/envois/{transfer_id}/correction"
    moved = upload(client, token, dossier(dest="80", files=files), files, url)
    assert moved.status_code == 422
    assert "Une correction ne peut pas changer de MDPH de destination" in messages(
        moved.text, "erreurs-dossier"
    )
    fixed = upload(client, token, dossier(files=files), files, url)
    assert fixed.status_code == 303
    assert fixed.location == f"/envois/{transfer_id}"
    assert run(app, backends, transfer_id) == State.READY
    page = unescape(client.get(fixed.location).text)
    assert "Version corrigée envoyée" in page
    assert "Erreurs à corriger" not in page


def test_an_account_of_two_departements_chooses_which_it_acts_for(
    web: Flask, demo: dict[str, Any], session: Session
) -> None:
    from mdph_bridge.services.accounts import create_account

    create_account(session, "binome", "caseworker", ["59", "62"], AGENT_PASSWORD)
    client = web.test_client()
    token = sign_in(client, "binome")
    assert "MDPH 59" in client.get("/envois").text
    client.post("/departement", data={"csrf_token": token, "departement": "62"})
    assert "MDPH 62" in client.get("/envois").text
    client.post("/departement", data={"csrf_token": token, "departement": "80"})  # not its own
    assert "MDPH 62" in client.get("/envois").text


def test_the_same_form_sent_twice_gives_one_transfer(
    web: Flask, agents: dict[tuple[str, str], str], session: Session
) -> None:
    client = web.test_client()
    token = sign_in(client, agents[("59", "caseworker")])
    files = {"piece_identite.pdf": PDF}
    key = uuid.uuid4()  # the form's hidden key: a double click or a resend is not a new transfer
    first = upload(client, token, dossier(files=files), files, "/envois/nouveau", key)
    second = upload(client, token, dossier(files=files), files, "/envois/nouveau", key)
    assert first.location == second.location
    assert session.scalar(select(func.count()).select_from(Transfer)) == 1


def test_lists_put_what_needs_action_first(
    app: Flask,
    web: Flask,
    agents: dict[tuple[str, str], str],
    backends: Backends,
    session: Session,
) -> None:
    sender = web.test_client()
    token = sign_in(sender, agents[("59", "caseworker")])
    ids = []
    for number in ("59-A", "59-B", "59-C", "59-D"):
        data = dossier(files={"piece_identite.pdf": PDF})
        data["transfert"]["numero_dossier_origine"] = number
        sent = upload(sender, token, data, {"piece_identite.pdf": PDF}, "/envois/nouveau")
        ids.append(uuid.UUID(sent.location.rsplit("/", 1)[1]))
        assert run(app, backends, ids[-1]) == State.READY
    now = utcnow()
    # A is late, B at risk (3 days left, past its warning day), C new; D was returned and waits
    # for the sender. At risk follows the clock's own `warn_at`, as the alerts and metrics do.
    for transfer_id, due in zip(ids[:3], (-1, 3, 14), strict=False):
        session.execute(
            update(Transfer)
            .where(Transfer.id == transfer_id)
            .values(due_at=now + timedelta(days=due), warn_at=now + timedelta(days=due - 5))
        )
    session.commit()
    receiver = web.test_client()
    rx_token = sign_in(receiver, agents[("62", "receiver")])
    returned = receiver.post(
        f"/recus/{ids[3]}/renvoi", data={"csrf_token": rx_token, "motif": "doublon"}
    )
    assert returned.status_code == 303

    rows = re.findall(
        r"<tr>\s*<td><a [^>]*>(59-[A-D])</a></td>\s*<td><p [^>]*>([^<]+)<",
        receiver.get("/recus").text,
    )
    assert rows == [
        ("59-A", "En retard"),
        ("59-B", "À risque"),
        ("59-C", "Nouveau"),
        ("59-D", "Terminé"),
    ]
    sent_rows = re.findall(r">(59-[A-D])</a>", sender.get("/envois").text)
    assert sent_rows == ["59-D", "59-C", "59-B", "59-A"]  # returned first, then newest first
    filtered = re.findall(r">(59-[A-D])</a>", sender.get("/envois?etat=returned").text)
    assert filtered == ["59-D"]
    page = unescape(sender.get(f"/envois/{ids[3]}").text)
    assert "Renvoyé par la MDPH 62" in page
    assert "Doublon d'un dossier déjà reçu" in page


def test_pages_and_account_events_are_in_the_audit_chain(
    app: Flask,
    web: Flask,
    demo: dict[str, Any],
    agents: dict[tuple[str, str], str],
    backends: Backends,
    session: Session,
) -> None:
    login = agents[("62", "receiver")]
    account = session.scalar(select(Account).where(Account.login == login))
    assert account is not None
    api = app.test_client()
    transfer_id = uuid.UUID(
        api.post(
            "/api/v1/transfers",
            **multipart(dossier(), {"piece_identite.pdf": PDF}),
            headers=bearer(demo["59"]["jetons"]["caseworker"]),
        ).get_json()["id"]
    )
    run(app, backends, transfer_id)
    receiver = web.test_client()
    assert attempt(receiver, login, "mauvais mot de passe").status_code == 401
    sign_in(receiver, login)
    with receiver.get(f"/recus/{transfer_id}/paquet") as package:
        assert package.status_code == 200
    assert receiver.get(f"/envois/{transfer_id}").status_code == 403  # not a sender's page
    outsider = web.test_client()
    sign_in(outsider, agents[("80", "receiver")])
    assert outsider.get(f"/recus/{transfer_id}").status_code == 404

    session.expire_all()
    seal_all(session, app.config["SIGNER"])
    rows = [
        (e.actor, e.action, e.object_type, e.object_id, e.outcome)
        for e in entries(session)
        if e.action.startswith(("account.", "recus.", "envois."))
    ]
    who = f"compte-{account.id}"
    assert (who, "account.sign_in", "account", str(account.id), "refused_password") in rows
    assert (who, "account.sign_in", "account", str(account.id), "ok") in rows
    # The first download moves the transfer: its entry commits with that change, as "ok".
    assert (who, "recus.paquet", "package", str(transfer_id), "ok") in rows
    assert [r for r in rows if r[1] == "recus.transfert" and r[4] == "404"]
    assert (who, "envois.transfert", "transfer", str(transfer_id), "403") in rows
    assert verify(session).ok
    # Ids and codes only: never a login, a name or a password.
    text = " ".join(str(value) for row in rows for value in row)
    assert login not in text
    assert "mauvais" not in text


def test_one_client_trying_many_accounts_is_slowed_down(
    app: Flask, agents: dict[tuple[str, str], str]
) -> None:
    strict = create_app(same_hub(app.config, AUTH_FAILURE_LIMIT="3/minute"))
    client = strict.test_client()
    logins = [agents[("59", role)] for role in ("caseworker", "receiver", "doctor", "supervisor")]

    statuses = [attempt(client, login, "mauvais mot de passe").status_code for login in logins]
    refused = attempt(client, logins[0], AGENT_PASSWORD)

    assert statuses == [401, 401, 401, 429]
    assert refused.status_code == 429  # even the right password waits: the client is slowed down
    assert "Trop d'essais de connexion refusés depuis votre poste" in unescape(refused.text)
    assert int(refused.headers["Retry-After"]) > 0
    strict.extensions["mdph_bridge"].engine.dispose()


def test_people_get_french_pages_for_unknown_addresses_and_a_database_outage(
    app: Flask, web: Flask
) -> None:
    client = web.test_client()
    unknown = client.get("/recus/pas-un-identifiant")
    api = client.get("/api/v1/nulle-part")

    assert unknown.status_code == 404
    assert unknown.mimetype == "text/html"
    assert "Page introuvable" in unknown.text
    assert api.status_code == 404
    assert api.get_json()["erreurs"][0]["code"] == "http.introuvable"

    down = create_app(
        same_hub(app.config, DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/x")
    )
    visitor = down.test_client()
    page = attempt(visitor, "caseworker-59", AGENT_PASSWORD)

    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "Service momentanément indisponible" in unescape(page.text)
    assert page.headers["Retry-After"] == "30"
    down.extensions["mdph_bridge"].engine.dispose()
