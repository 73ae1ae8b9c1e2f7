"""Load and check the rule files (`rules/*.toml`): a broken file stops the service, clearly."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from mdph_bridge.domain.rulesets import (
    Contact,
    DepartementRules,
    ExtraLegalAid,
    NationalRules,
    RuleBook,
    Sourced,
)
from mdph_bridge.territoires import places
from schemas.errors import error, flatten
from schemas.rules import (
    NATIONAL_TABLES,
    DepartementRulesSchema,
    DepartementVersionSchema,
    NationalRulesSchema,
)

RULES_DIR = Path(__file__).parent / "rules"
NATIONAL = "national"


class RulesError(Exception):
    """One or more rule files are invalid; `problems` lists them by file and field path."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p['chemin']} : {p['message']} [{p['code']}]" for p in problems)
        super().__init__(f"Règles des départements invalides :\n{lines}")


def load_rulebook(directory: Path = RULES_DIR) -> RuleBook:
    """Read every rule file of `directory`, check it, and return the rule book."""
    problems: list[dict[str, str]] = []
    national: tuple[NationalRules, ...] = ()
    departements: dict[str, tuple[DepartementRules, ...]] = {}
    for path in sorted(directory.glob("*.toml")):
        is_national = path.stem == NATIONAL
        schema = NationalRulesSchema() if is_national else DepartementRulesSchema()
        data = _read(path, schema, problems)
        if data is None:
            continue
        if is_national:
            national = _national_versions(data)
            continue
        merged = _merged(
            path.name, data["versions"], _required(DepartementVersionSchema()), problems
        )
        if data["departement"] != path.stem:
            problems.append(
                error(
                    f"{path.name}:departement",
                    "regles.nom_fichier",
                    fichier=path.name,
                    attendu=path.stem,
                )
            )
        else:
            code = data["departement"]
            departements[code] = tuple(
                _departement(code, data["nom"], data["article"], v) for v in merged
            )
    if not national and not any(p["chemin"].startswith(f"{NATIONAL}.toml") for p in problems):
        problems.append(error(f"{NATIONAL}.toml", "regles.national_absent"))
    if national:
        problems += _under_the_floor(national, departements)
    if problems:
        raise RulesError(problems)
    return RuleBook(national, departements, places())


def _read(path: Path, schema: Schema, problems: list[dict[str, str]]) -> dict[str, Any] | None:
    try:
        return schema.load(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(error(path.name, "regles.lecture", detail=str(exc)))
    except ValidationError as exc:
        problems += [{**p, "chemin": f"{path.name}:{p['chemin']}"} for p in flatten(exc.messages)]
    return None


def _required(version: Schema) -> list[str]:
    """Values the first version must give (a département may have no extra-legal aid)."""
    return [name for name in version.fields if name != "aides_extra_legales"]


def _merged(
    filename: str,
    versions: list[dict[str, Any]],
    required: list[str],
    problems: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """Complete each version with the values it does not change; the first must give them all."""
    missing = [name for name in required if name not in versions[0]]
    for name in missing:
        problems.append(error(f"{filename}:versions[0]", "regles.incomplet", champ=name))
    merged: list[dict[str, Any]] = []
    current: dict[str, Any] = {"aides_extra_legales": []}
    for version in versions:
        current = {**current, **version}
        merged.append(current)
    return [] if missing else merged


def _sourced(item: dict[str, Any]) -> Sourced[Any]:
    return Sourced(item["valeur"], item["source"], item["a_confirmer"])


def _national_versions(data: dict[str, Any]) -> tuple[NationalRules, ...]:
    """One version of the national rates on each date any amount changes.

    Before an amount's first date, its first value is used (no older value is recorded).
    """
    days = sorted({row["date_effet"] for name in NATIONAL_TABLES for row in data[name]})
    versions = []
    for day in days:
        version: dict[str, Any] = {"date_effet": day}
        for name in NATIONAL_TABLES:
            rows = data[name]
            version[name] = ([row for row in rows if row["date_effet"] <= day] or rows[:1])[-1]
        versions.append(_national(version))
    return tuple(versions)


def _national(version: dict[str, Any]) -> NationalRules:
    return NationalRules(
        effective=version["date_effet"],
        direct_employment_rate=_sourced(version["tarif_emploi_direct"]),
        mandatary_rate=_sourced(version["tarif_mandataire"]),
        family_carer_rate=_sourced(version["tarif_aidant_familial"]),
        direct_employment_care_rate=_sourced(version["tarif_emploi_direct_gestes_soins"]),
        mandatary_care_rate=_sourced(version["tarif_mandataire_gestes_soins"]),
        family_carer_full_rate=_sourced(version["tarif_aidant_familial_cessation_activite"]),
        home_service_floor=_sourced(version["tarif_plancher_saad"]),
    )


def _departement(code: str, name: str, article: str, version: dict[str, Any]) -> DepartementRules:
    contact = version["contact"]
    return DepartementRules(
        code=code,
        name=name,
        article=article,
        effective=version["date_effet"],
        home_service_rate=_sourced(version["pch_tarif_prestataire"]),
        payment_mode=_sourced(version["pch_mode_versement"]),
        certificate_max_months=_sourced(version["certificat_age_max_mois"]),
        urgent_pch_days=_sourced(version["pch_urgence_delai_jours"]),
        contact=Contact(
            contact["service"],
            contact["courriel"],
            contact["telephone"],
            contact["source"],
            contact["a_confirmer"],
        ),
        aids=tuple(
            ExtraLegalAid(
                a["code"],
                a["libelle"],
                a["categorie"],
                a["fin"],
                a["source"],
                a["a_confirmer"],
                a["legale"],
            )
            for a in version["aides_extra_legales"]
        ),
    )


def _under_the_floor(
    national: tuple[NationalRules, ...], departements: dict[str, tuple[DepartementRules, ...]]
) -> list[dict[str, str]]:
    """Refuse a département's version whose home-service rate is under the floor of its date."""
    problems = []
    for code, versions in departements.items():
        for index, day, rate, floor in _rates_and_floors(national, versions):
            if rate < floor:
                problems.append(
                    error(
                        f"{code}.toml:versions[{index}].pch_tarif_prestataire.valeur",
                        "regles.plancher",
                        tarif=rate,
                        date=day.strftime("%d/%m/%Y"),
                        plancher=floor,
                    )
                )
    return problems


def _rates_and_floors(
    national: tuple[NationalRules, ...], versions: tuple[DepartementRules, ...]
) -> Iterator[tuple[int, date, Decimal, Decimal]]:
    # A version is checked against the floor in force on its own date; a rate a later floor
    # overtakes is lifted to that floor when amounts are computed (CASF D314-130-1).
    days = sorted({v.effective for v in versions})
    book = RuleBook(national, {"x": versions})
    for day in days:
        floors = [n for n in national if n.effective <= day]
        rules = book.departement_at("x", day)
        if floors and rules is not None:
            yield (
                versions.index(rules),
                day,
                rules.home_service_rate.value,
                (floors[-1].home_service_floor.value),
            )
