"""Hub administration: départements, and the demo set-up of Nord (59) and Pas-de-Calais (62)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mdph_bridge.domain.codes import is_departement_code
from mdph_bridge.domain.roles import Role
from mdph_bridge.keyfiles import SUFFIXES, create_key_file, public_key_of, read_secret
from mdph_bridge.models import ApiToken, Departement, utcnow
from mdph_bridge.services.accounts import (
    create_account,
    enable_account,
    find_account,
    generate_password,
    set_password,
)
from mdph_bridge.services.audit import CLI, record
from mdph_bridge.services.auth import forget_tokens, issue_token
from mdph_bridge.services.keys import USAGES, register_key, valid_keys

DEMO_DEPARTEMENTS = {"59": "Nord", "62": "Pas-de-Calais"}
DEMO_ROLES = (Role.CASEWORKER, Role.RECEIVER, Role.DOCTOR, Role.SUPERVISOR)
DEMO_LABEL = "démo"


def add_departement(session: Session, code: str, nom: str) -> Departement:
    """Connect a département to the hub (idempotent)."""
    if not is_departement_code(code):
        raise ValueError(f"Code département invalide : {code!r}.")
    departement = session.get(Departement, code)
    if departement is None:
        departement = Departement(code=code, nom=nom)
        session.add(departement)
        session.commit()
    return departement


def _demo_key(session: Session, code: str, usage: str, keys_dir: Path) -> dict[str, str]:
    """Reuse or create a demo key file (one folder per département) and register it."""
    folder = keys_dir / code
    path = folder / f"{usage}{SUFFIXES[usage]}"
    if path.exists():
        public = public_key_of(read_secret(path))
    else:
        folder.mkdir(parents=True, exist_ok=True)
        public = create_key_file(path, usage)
    registered = next((k for k in valid_keys(session, code, usage) if k.public_key == public), None)
    key = registered or register_key(session, code, usage, public)
    return {"id": key.id, "public_key": public, "identity_file": str(path)}


def _demo_account(session: Session, code: str, role: str) -> dict[str, str]:
    """Create or reset the demo account of a role, with a fresh password shown once."""
    login, password = f"{role}-{code}", generate_password()
    account = find_account(session, login)
    if account is None:
        create_account(session, login, role, [code], password)
    else:
        set_password(session, account, password)
        enable_account(session, account)
    return {"identifiant": login, "mot_de_passe": password}


def create_demo(session: Session, keys_dir: Path, accounts: bool = False) -> dict[str, Any]:
    """Create the demo départements with keys, and fresh tokens per role (old demo ones revoked).

    With `accounts`, also one account per role and département, with a fresh password.
    """
    result: dict[str, Any] = {}
    for old in session.scalars(
        select(ApiToken).where(ApiToken.label == DEMO_LABEL, ApiToken.revoked_at.is_(None))
    ):
        old.revoked_at = utcnow()
        record(session, CLI, "token.revoke", "token", old.id)
    session.commit()
    forget_tokens(session)
    for code, nom in DEMO_DEPARTEMENTS.items():
        add_departement(session, code, nom)
        keys = {usage: _demo_key(session, code, usage, keys_dir) for usage in USAGES}
        tokens = {role: issue_token(session, code, role, DEMO_LABEL)[1] for role in DEMO_ROLES}
        result[code] = {"nom": nom, "cles": keys, "jetons": tokens}
        if accounts:
            comptes = {role: _demo_account(session, code, role) for role in DEMO_ROLES}
            result[code]["comptes"] = comptes
    return result
