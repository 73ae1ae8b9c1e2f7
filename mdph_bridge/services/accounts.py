"""Accounts of people: create, disable, sign in with lock-out; argon2 password hashes."""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from mdph_bridge.domain.passwords import password_problems
from mdph_bridge.models import Account, AccountDepartement, Departement, utcnow
from mdph_bridge.services.audit import CLI, Actor, record
from mdph_bridge.services.auth import ROLES, Principal

log = logging.getLogger(__name__)

_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
# RFC 9106's second recommended option (argon2id, 64 MiB, 3 passes), argon2-cffi's default.
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the login is unknown: the answer takes as long as usual."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def account_event(
    session: Session,
    kind: str,
    account_id: uuid.UUID | None,
    actor: Actor | None = None,
    outcome: str = "ok",
    **detail: object,
) -> None:
    """Log an account event and add it to the audit chain (ids and codes only).

    `actor` is who acted (an administrator's command); by default the account itself.
    """
    extra = "".join(f" {key}={value}" for key, value in sorted(detail.items()))
    log.info("account.%s account=%s outcome=%s%s", kind, account_id or "-", outcome, extra)
    who = actor or Actor(f"compte-{account_id}" if account_id else "anonyme")
    record(session, who, f"account.{kind}", "account", account_id, outcome)
    session.commit()


def generate_password() -> str:
    """Return a random initial password (about 128 bits) that the password policy accepts."""
    while password_problems(password := secrets.token_urlsafe(16), ""):
        pass  # rare: no digit or no capital among the 22 characters
    return password


def _check_password(password: str, login: str) -> None:
    if problems := password_problems(password, login):
        raise ValueError(" ".join(problems))


def _departements(session: Session, role: str, codes: list[str]) -> list[AccountDepartement]:
    if not codes and role != "admin":
        raise ValueError("Un compte agit pour au moins un département (sauf le rôle admin).")
    for code in codes:
        if session.get(Departement, code) is None:
            raise ValueError(f"Département inconnu : {code}.")
    return [AccountDepartement(departement_code=code) for code in dict.fromkeys(codes)]


def create_account(
    session: Session, login: str, role: str, codes: list[str], password: str
) -> Account:
    """Create an account; the password is stored only as an argon2id hash."""
    login = login.strip().lower()
    if not _LOGIN.fullmatch(login):
        raise ValueError(
            "Identifiant invalide : 3 à 64 caractères parmi minuscules, chiffres, "
            "« . », « _ » et « - »."
        )
    if role not in ROLES:
        raise ValueError(f"Rôle inconnu {role!r} : attendu {', '.join(ROLES)}.")
    _check_password(password, login)
    if session.scalar(select(Account).where(Account.login == login)) is not None:
        raise ValueError(f"L'identifiant {login} existe déjà.")
    account = Account(
        login=login,
        role=role,
        password_hash=_HASHER.hash(password),
        departements=_departements(session, role, codes),
    )
    session.add(account)
    session.commit()
    account_event(session, "created", account.id, CLI, role=role, departements=",".join(codes))
    return account


def find_account(session: Session, login: str) -> Account | None:
    """Return the account with this login, if any."""
    return session.scalar(select(Account).where(Account.login == login.strip().lower()))


def set_password(session: Session, account: Account, password: str) -> None:
    """Replace the password, unlock the account and end its open sessions."""
    _check_password(password, account.login)
    account.password_hash = _HASHER.hash(password)
    account.failed_attempts = 0
    account.locked_until = None
    account.sessions_valid_after = utcnow()
    session.commit()
    account_event(session, "password_set", account.id, CLI)


def disable_account(session: Session, account: Account) -> None:
    """Disable an account at once: no sign-in, and its open sessions end."""
    now = utcnow()
    account.disabled_at = account.disabled_at or now
    account.sessions_valid_after = now
    session.commit()
    account_event(session, "disabled", account.id, CLI)


def enable_account(session: Session, account: Account) -> None:
    """Enable a disabled or locked account again."""
    account.disabled_at = None
    account.failed_attempts = 0
    account.locked_until = None
    session.commit()
    account_event(session, "enabled", account.id, CLI)


def list_accounts(session: Session, departement: str | None = None) -> list[Account]:
    """List accounts by login, optionally those acting for one département."""
    query = select(Account).order_by(Account.login)
    if departement:
        query = query.where(
            Account.departements.any(AccountDepartement.departement_code == departement)
        )
    return list(session.scalars(query))


class SignInError(Exception):
    """The sign-in failed: one answer whether the login, the password or the lock is the cause."""

    code = "compte.identifiants"


@dataclass(frozen=True)
class Lockout:
    """How many failed sign-ins in a row lock an account, and for how long."""

    max_failures: int
    duration: timedelta


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sign_in(
    session: Session,
    login: str,
    password: str,
    lockout: Lockout,
    on_lock: Callable[[Account], None] = lambda _: None,
) -> Account:
    """Check a login and password; count failures in the database and lock at the limit.

    Every refusal looks the same from outside (same answer, a hash checked each time): only the
    audit trail and `on_lock`, called once when the account gets locked, tell the causes apart.
    """
    account = find_account(session, login)
    if account is None or account.disabled_at is not None:
        _verify(_dummy_hash(), password)
        account_event(
            session, "sign_in", account.id if account else None, outcome="refused_unknown"
        )
        raise SignInError
    now = utcnow()
    if account.locked_until is not None and account.locked_until > now:
        _verify(_dummy_hash(), password)
        account_event(session, "sign_in", account.id, outcome="refused_locked")
        raise SignInError
    if not _verify(account.password_hash, password):
        _count_failure(session, account, now, lockout)
        if account.locked_until is not None and account.locked_until > now:
            account_event(
                session, "locked", account.id, outcome="locked", failures=account.failed_attempts
            )
            on_lock(account)
        else:
            account_event(session, "sign_in", account.id, outcome="refused_password")
        raise SignInError
    if _HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = _HASHER.hash(password)
    account.failed_attempts = 0
    account.locked_until = None
    account.last_sign_in_at = now
    session.commit()
    account_event(session, "sign_in", account.id)
    return account


def _count_failure(session: Session, account: Account, now: datetime, lockout: Lockout) -> None:
    """Add one failure in a single UPDATE, so that parallel attempts are all counted."""
    failures = Account.failed_attempts + 1
    session.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(
            failed_attempts=failures,
            locked_until=case(
                (failures >= lockout.max_failures, now + lockout.duration),
                else_=Account.locked_until,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(account)


def sign_out(session: Session, account_id: uuid.UUID) -> None:
    """End every open session of the account (the session cookie is signed, not stored)."""
    account = session.get(Account, account_id)
    if account is not None:
        account.sessions_valid_after = utcnow()
        session.commit()
    account_event(session, "sign_out", account_id)


def signed_in_account(session: Session, account_id: uuid.UUID, since: datetime) -> Account | None:
    """Return the account of a session opened at `since`, if it is still valid."""
    account = session.get(Account, account_id)
    if account is None or account.disabled_at is not None or since < account.sessions_valid_after:
        return None
    return account


def principal_of(account: Account, departement: str) -> Principal:
    """The principal a signed-in account acts as, for one of its départements."""
    if departement not in account.codes:
        raise ValueError("département hors du compte")
    return Principal(account.id, departement, account.role, agent=True)
