"""Commands on the départements' rule sets: check the files, compare two, explain a mapping."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from mdph_bridge.cli.base import main
from mdph_bridge.domain.codes import is_departement_code, overseas_collectivity
from mdph_bridge.domain.rulesets import DepartementRules, RuleBook, Sourced
from schemas.errors import CATALOGUE


def _rules_dir() -> Path:
    from mdph_bridge.config import load_config
    from mdph_bridge.rulebook import RULES_DIR

    return Path(load_config()["RULES_DIR"] or RULES_DIR)


def configured_rules() -> RuleBook:
    """The rule book of MDPH_BRIDGE_RULES_DIR (or the shipped one); a broken file is an error."""
    from mdph_bridge.rulebook import RulesError, load_rulebook

    try:
        return load_rulebook(_rules_dir())
    except RulesError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def rules() -> None:
    """Check, compare and try out the départements' rule sets (mdph_bridge/rules/*.toml)."""


@rules.command("check")
def rules_check() -> None:
    """Validate every rule file; list each département's versions and values to confirm."""
    book = configured_rules()
    click.echo(f"Règles valides ({_rules_dir()}).")
    national = book.national
    latest_national = national[-1]
    pending = [name for name, value in latest_national.values().items() if value.to_confirm]
    click.echo(
        f"  national : {len(national)} version(s), la dernière du "
        f"{_fr(latest_national.effective)} ; {_to_confirm(pending)}"
    )
    for code, versions in sorted(book.departements.items()):
        latest = versions[-1]
        pending = [name for name, value in _values(latest).items() if value.to_confirm]
        pending += [f"aide {aid.code}" for aid in latest.aids if aid.to_confirm]
        click.echo(
            f"  {code} {latest.name} : {len(versions)} version(s), la dernière du "
            f"{_fr(latest.effective)} ; {_to_confirm(pending)}"
        )
    click.echo(
        "  Les autres départements appliquent les règles et tarifs nationaux, tant qu'ils n'ont "
        "pas de fichier de règles."
    )


def _to_confirm(names: list[str]) -> str:
    """« 2 valeur(s) à confirmer : a, b », or that nothing is left to confirm."""
    if not names:
        return "aucune valeur à confirmer"
    return f"{len(names)} valeur(s) à confirmer : {', '.join(names)}"


def _values(rules: DepartementRules) -> dict[str, Sourced[Any] | Any]:
    return {
        "pch_tarif_prestataire": rules.home_service_rate,
        "pch_mode_versement": rules.payment_mode,
        "certificat_age_max_mois": rules.certificate_max_months,
        "pch_urgence_delai_jours": rules.urgent_pch_days,
        "contact": rules.contact,
    }


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _shown(value: Sourced[Any]) -> str:
    return f"{value.value}{' (à confirmer)' if value.to_confirm else ''}"


@rules.command("diff")
@click.argument("first", metavar="PREMIER")
@click.argument("second", metavar="SECOND")
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="AAAA-MM-JJ ; défaut : aujourd'hui."
)
def rules_diff(first: str, second: str, day: Any) -> None:
    """Show what differs between two départements' rules in force on a date."""
    book = configured_rules()
    on = day.date() if day else date.today()
    a, b = book.departement_at(first, on), book.departement_at(second, on)
    if a is None or b is None:
        missing = first if a is None else second
        raise click.ClickException(f"Aucune règle en vigueur le {_fr(on)} pour le {missing}.")
    click.echo(f"Règles en vigueur le {_fr(on)} : {a.version} et {b.version}")
    rows: list[tuple[str, Sourced[Any], Sourced[Any]]] = [
        ("Tarif PCH prestataire (€/h)", a.home_service_rate, b.home_service_rate),
        ("Versement de la PCH", a.payment_mode, b.payment_mode),
        (
            "Âge maximal du certificat médical (mois)",
            a.certificate_max_months,
            b.certificate_max_months,
        ),
        ("Délai de la PCH en urgence (jours)", a.urgent_pch_days, b.urgent_pch_days),
    ]
    same = []
    for name, left, right in rows:
        if left.value == right.value:
            same.append(name)
            continue
        click.echo(f"\n{name}\n  {a.code} : {_shown(left)}\n  {b.code} : {_shown(right)}")
    for own, other in ((a, b), (b, a)):
        for aid in own.aids:
            equivalent = other.equivalent_of(aid)
            found = f"équivalent « {equivalent.label} »" if equivalent else "sans équivalent"
            click.echo(
                f"\nAide extra-légale du {own.code} « {aid.label} » : {found} dans le {other.code}"
            )
    click.echo(
        f"\nContacts\n  {a.code} : {a.contact.service}, {a.contact.email}\n"
        f"  {b.code} : {b.contact.service}, {b.contact.email}"
    )
    if same:
        click.echo(f"\nIdentique des deux côtés : {', '.join(same)}.")


@rules.command("explain")
@click.argument(
    "file", metavar="FICHIER", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--to", "destination", help="Département d'accueil (défaut : celui du dossier).")
@click.option("--json", "as_json", is_flag=True, help="Afficher le rapport complet en JSON.")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Écrire aussi le rapport lisible (HTML) dans ce fichier.",
)
def rules_explain(
    file: Path, destination: str | None, as_json: bool, html_out: Path | None
) -> None:
    """Run the rights mapping locally on a dossier file and print the report."""
    from mdph_bridge.domain.harmonisation import harmonise
    from mdph_bridge.services.errors import ServiceError
    from mdph_bridge.services.harmonisation import aid_problems, report_html
    from mdph_bridge.services.submission import parse_dossier

    book = configured_rules()
    try:
        data = parse_dossier(file.read_bytes())
    except ServiceError as exc:
        for problem in exc.erreurs:
            click.echo(f"{problem['chemin'] or '(dossier)'} : {problem['message']}", err=True)
        raise SystemExit(1) from exc
    problems = aid_problems(book, data)
    if problems:
        for problem in problems:
            click.echo(f"{problem['chemin']} : {problem['message']}", err=True)
        raise SystemExit(1)
    if destination is not None and overseas_collectivity(destination):
        raise click.ClickException(
            CATALOGUE["departement.collectivite_outre_mer"].format(
                collectivite=overseas_collectivity(destination), numero=destination
            )
        )
    if destination is not None and not is_departement_code(destination):
        raise click.ClickException(f"Code département inconnu : {destination}.")
    if (destination or data["transfert"]["mdph_destination"]) == data["transfert"]["mdph_origine"]:
        raise click.ClickException(CATALOGUE["transfert.destination_identique"])
    report = harmonise(data, book, destination)
    if html_out:
        html_out.write_text(report_html(report), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for line in report_lines(report):
        click.echo(line)


def report_lines(report: dict[str, Any]) -> list[str]:
    """The mapping report as plain French text, for a terminal."""
    from mdph_bridge.services.harmonisation import OUTCOME_LABELS

    lines = [
        f"Transfert {report['mdph_origine']} → {report['mdph_destination']}, déménagement le "
        f"{_iso_fr(report['date_demenagement'])} ; règles : {', '.join(report['versions_regles'])}",
        "Résultats : "
        + ", ".join(
            f"{OUTCOME_LABELS[k].lower()} {v}" for k, v in report["resultats"].items() if v
        ),
        *report["observations"],
    ]
    for item in report["droits"] + report["aides_extra_legales"]:
        lines.append(
            f"\n{item['identifiant']} {item['libelle']} : {OUTCOME_LABELS[item['resultat']]}"
        )
        lines += [f"  - {reason}" for reason in item["motifs"]]
        if "recalcul_pch" in item:
            lines.append(f"  - {item['recalcul_pch']['explication']}")
    if report["alertes"]:
        lines.append("\nAlertes pour la MDPH d'accueil :")
        lines += [f"  {_iso_fr(a['date_limite'])}  {a['message']}" for a in report["alertes"]]
    return lines


def _iso_fr(value: str) -> str:
    return _fr(date.fromisoformat(value))
