"""The admin command line against PostgreSQL: départements, keys, tokens, demo, migrations."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session
from support import bearer, csrf_token, sign_in

from mdph_bridge.cli import main
from mdph_bridge.domain.age import recipient_of
from mdph_bridge.models import ApiToken, DepartementKey, utcnow
from mdph_bridge.services.auth import authenticate, hash_token

pytestmark = pytest.mark.integration


def test_departement_keys_and_tokens_lifecycle(cli: Any, session: Session, tmp_path: Path) -> None:
    cli("departements", "add", "80", "Somme")
    assert "80\tSomme" in cli("departements", "list")

    recipient = cli("keys", "generate", "--out", str(tmp_path / "80.agekey")).strip()
    identity = (tmp_path / "80.agekey").read_text().splitlines()[-1]
    assert recipient_of(identity) == recipient
    assert (
        tmp_path / "80.agekey"
    ).stat().st_mode & 0o077 == 0  # private key readable by owner only
    key_id = cli("keys", "register", "80", "receiver", recipient).strip()
    key = session.get(DepartementKey, key_id)
    assert key is not None
    assert key.public_key == recipient
    assert key_id in cli("keys", "list", "80")
    cli("keys", "revoke", key_id)
    session.refresh(key)
    assert key.revoked_at is not None

    issued = cli("tokens", "issue", "80", "caseworker", "--label", "SI MDPH 80", "--days", "90")
    token_id, value = issued.splitlines()[0].split()
    stored = session.get(ApiToken, uuid.UUID(token_id))
    assert stored is not None
    assert stored.token_hash == hash_token(value)
    assert value not in str(vars(stored))  # only the hash is kept
    assert authenticate(session, value) is not None
    assert timedelta(days=89) < stored.expires_at - utcnow() <= timedelta(days=90)
    session.commit()  # the last use recorded by authenticate
    listed = cli("tokens", "list", "80")
    assert f"{token_id}\tcaseworker\tSI MDPH 80\tactif\texpire : " in listed
    assert "dernier usage : —" not in listed
    cli("tokens", "revoke", token_id)
    session.expire_all()
    assert authenticate(session, value) is None


def test_unknown_departement_or_bad_key_is_refused(cli: Any) -> None:
    runner = CliRunner()
    cli("departements", "add", "80", "Somme")
    bad_key = runner.invoke(main, ["keys", "register", "80", "receiver", "age1notakey"])
    assert bad_key.exit_code == 1
    assert "Clé publique invalide" in bad_key.output
    unknown = runner.invoke(main, ["keys", "register", "02", "receiver", "age1notakey"])
    assert "Département non raccordé" in unknown.output
    bad_code = runner.invoke(main, ["departements", "add", "20", "Corse"])
    assert bad_code.exit_code == 1
    assert "Code département invalide" in bad_code.output


def test_demo_json_gives_working_tokens(cli: Any, client: Any) -> None:
    demo = json.loads(cli("demo", "--json"))
    assert set(demo) == {"59", "62"}
    assert set(demo["59"]["jetons"]) == {"caseworker", "receiver", "doctor", "supervisor"}
    assert Path(demo["62"]["cles"]["receiver"]["identity_file"]).exists()
    response = client.get("/api/v1/transfers", headers=bearer(demo["59"]["jetons"]["caseworker"]))
    assert response.status_code == 200
    again = json.loads(cli("demo", "--json"))
    assert again["62"]["cles"] == demo["62"]["cles"]  # keys are kept, tokens renewed
    # The command is another process: the web one refuses the old token once its copy of the
    # check is older than TOKEN_CACHE_SECONDS (docs/SECURITY.md §2); here, at once.
    client.application.config["TOKEN_CACHE_SECONDS"] = 0
    old = client.get("/api/v1/transfers", headers=bearer(demo["59"]["jetons"]["caseworker"]))
    assert old.status_code == 401


def test_migrate_is_idempotent(cli: Any) -> None:
    cli("migrate")
    cli("migrate")


def test_error_codes_matches_docs(cli: Any) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs/ERREURS.md"
    assert cli("error-codes") == docs.read_text()


def test_keys_expiring_and_staging_reseal_commands(cli: Any, session: Session) -> None:
    assert "Aucune clé n'expire" in cli("keys", "expiring")
    cli("departements", "add", "80", "Somme")
    public = cli("keys", "generate", "--usage", "signing", "--out", "80.signkey").strip()
    key_id = cli("keys", "register", "80", "signing", public, "--valid-until", "2099-01-01").strip()
    assert key_id.startswith("80-signing-")
    assert key_id in cli("keys", "expiring", "--days", "40000")
    later = cli("keys", "generate", "--usage", "receiver", "--out", "80-next.agekey").strip()
    future = cli("keys", "register", "80", "receiver", later, "--valid-from", "2099-01-01").strip()
    assert session.get(DepartementKey, future) is not None
    assert not session.get(DepartementKey, future).is_valid(utcnow())  # not before its date
    assert "0 fichier(s) rechiffré(s)" in cli("staging", "reseal")


def test_accounts_create_list_disable_enable(cli: Any, web: Flask, demo: dict[str, Any]) -> None:
    created = cli("accounts", "create", "m.dupont", "--role", "caseworker", "--departement", "59")
    password = created.split("une seule fois) : ")[1].strip()
    assert "m.dupont\tcaseworker\t59\tactif" in cli("accounts", "list", "--departement", "59")
    assert "m.dupont" not in cli("accounts", "list", "--departement", "62")
    sign_in(web.test_client(), "m.dupont", password)

    cli("accounts", "disable", "m.dupont")
    assert "m.dupont\tcaseworker\t59\tdésactivé" in cli("accounts", "list")
    client = web.test_client()
    token = csrf_token(client.get("/connexion").text)
    refused = client.post(
        "/connexion",
        data={"identifiant": "m.dupont", "mot_de_passe": password, "csrf_token": token},
    )
    assert refused.status_code == 401
    cli("accounts", "enable", "m.dupont")
    sign_in(web.test_client(), "m.dupont", password)


def test_accounts_create_refuses_a_short_password_and_an_unknown_departement(cli: Any) -> None:
    result = CliRunner().invoke(
        main,
        [
            "accounts",
            "create",
            "x.y",
            "--role",
            "receiver",
            "--departement",
            "62",
            "--password-stdin",
        ],
        input="court\n",
    )
    assert result.exit_code != 0
    assert "Mot de passe trop faible" in result.output
    result = CliRunner().invoke(
        main, ["accounts", "create", "x.y", "--role", "receiver", "--departement", "99"]
    )
    assert result.exit_code != 0
    assert "Département inconnu : 99" in result.output


def test_demo_prints_one_account_per_role_that_can_sign_in(cli: Any, web: Flask) -> None:
    demo = json.loads(cli("demo", "--json"))
    for code in ("59", "62"):
        assert set(demo[code]["comptes"]) == {"caseworker", "receiver", "doctor", "supervisor"}
    account = demo["62"]["comptes"]["receiver"]
    sign_in(web.test_client(), account["identifiant"], account["mot_de_passe"])
    again = json.loads(cli("demo", "--json"))  # passwords are renewed, like tokens
    assert again["62"]["comptes"]["receiver"]["mot_de_passe"] != account["mot_de_passe"]
    assert "compte receiver" in cli("demo")


def test_cli_errors_are_one_french_line_without_traceback(cli: Any, session: Session) -> None:
    runner = CliRunner()
    unknown = runner.invoke(main, ["tokens", "issue", "99", "admin"])
    assert unknown.exit_code == 1
    assert "Erreur : Département non raccordé : '99'." in unknown.output
    assert "Traceback" not in unknown.output
    assert unknown.exception is None or isinstance(unknown.exception, SystemExit)
    expired = runner.invoke(main, ["tokens", "issue", "59", "caseworker", "--days", "-1"])
    assert expired.exit_code == 1
    assert "Erreur : --days : une validité d'au moins 1 jour est attendue." in expired.output
    assert session.query(ApiToken).count() == 0
    usage = runner.invoke(main, ["tokens", "issue"])
    assert usage.exit_code == 2
    assert "Erreur : " in usage.output
    assert "tokens issue --help" in usage.output.splitlines()[-1]


def test_no_token_is_issued_already_expired(session: Session) -> None:
    from mdph_bridge.services.admin import add_departement
    from mdph_bridge.services.auth import issue_token

    add_departement(session, "80", "Somme")
    with pytest.raises(ValueError, match="dans le futur"):
        issue_token(session, "80", "caseworker", "", utcnow() - timedelta(days=1))
