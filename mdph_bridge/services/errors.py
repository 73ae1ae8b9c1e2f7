"""Failures a use case reports to its caller, already in the `erreurs` shape."""

from __future__ import annotations

from typing import Any

from schemas.errors import error


class ServiceError(Exception):
    """A refused request: HTTP status plus the list of problems, each with path, code, message."""

    def __init__(
        self, status: int, erreurs: list[dict[str, str]], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(", ".join(e["code"] for e in erreurs))
        self.status = status
        self.erreurs = erreurs
        self.headers = headers or {}

    @classmethod
    def one(cls, status: int, chemin: str, code: str, **params: Any) -> ServiceError:
        """Build a refusal with a single problem."""
        return cls(status, [error(chemin, code, **params)])


def not_found() -> ServiceError:
    """Refuse without telling whether the transfer exists (another département's, or none)."""
    return ServiceError.one(404, "", "transfert.introuvable")
