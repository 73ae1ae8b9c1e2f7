"""Rule files: the shipped ones are valid and sourced; a broken one stops the service, clearly."""

from __future__ import annotations

import json
import shutil
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from dossiers import EXAMPLES

from mdph_bridge import create_app
from mdph_bridge.cli import main
from mdph_bridge.domain.sealing import generate_staging_key
from mdph_bridge.domain.signing import generate_hub_key
from mdph_bridge.rulebook import RULES_DIR, RulesError, load_rulebook

pytestmark = pytest.mark.unit
HAUTS_DE_FRANCE = {"02", "59", "60", "62", "80"}


def test_the_shipped_rule_sets_cover_the_hauts_de_france_and_load() -> None:
    book = load_rulebook()

    assert set(book.departements) == HAUTS_DE_FRANCE
    nord = book.departement_at("59", date(2020, 1, 1))
    assert nord is not None
    assert nord.home_service_rate.value == Decimal("21.00")  # 2017, before the national floor
    nord_now = book.departement_at("59", date(2026, 11, 2))
    assert nord_now is not None
    # Its 2022 version was at the floor of its date; the floors since are applied over it.
    assert (
        nord_now.home_service_rate.value
        >= book.national_at(nord_now.effective).home_service_floor.value
    )
    assert book.national_at(date(2026, 11, 2)).home_service_floor.value == Decimal("25.00")
    # A later version changes only some values and keeps the others.
    assert nord_now.payment_mode == nord.payment_mode
    assert nord_now.certificate_max_months.value == 12


def test_every_value_has_a_source_or_is_marked_to_confirm() -> None:
    for path in RULES_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        # A département's file has versions; the national file has one table per amount.
        tables = {name: value for name, value in data.items() if isinstance(value, list)}
        for version in data.get("versions", [tables]):
            for name, value in version.items():
                if name == "date_effet":
                    continue
                for item in value if isinstance(value, list) else [value]:
                    assert len(item["source"]) > 10, (path.name, name)
                    assert isinstance(item.get("a_confirmer", False), bool)


def _copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def _edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


BROKEN = [
    pytest.param(
        "62.toml",
        "valeur = 22.00",
        'valeur = "22 euros"',
        "62.toml:versions[0].pch_tarif_prestataire.valeur",
        "regles.montant",
        id="rate-as-text",
    ),
    pytest.param(
        "62.toml",
        "valeur = 22.00",
        "valeur = 19.50",
        "62.toml:versions[0].pch_tarif_prestataire.valeur",
        "regles.plancher",
        id="rate-under-the-national-floor",
    ),
    pytest.param(
        "62.toml",
        'valeur = "virement"',
        'valeur = "cheque"',
        "62.toml:versions[0].pch_mode_versement.valeur",
        "champ.choix",
        id="unknown-payment-mode",
    ),
    pytest.param(
        "62.toml",
        "date_effet = 2022-01-01",
        'date_effet = "2022-01-01"',
        "62.toml:versions[0].date_effet",
        "regles.date",
        id="quoted-date",
    ),
    pytest.param(
        "59.toml",
        "date_effet = 2022-01-01",
        "date_effet = 2017-01-01",
        "59.toml:versions",
        "regles.ordre",
        id="versions-out-of-order",
    ),
    pytest.param(
        "60.toml",
        '[versions.pch_mode_versement]\nvaleur = "virement"\na_confirmer = true\n'
        'source = "Valeur par défaut, à confirmer par le département"\n',
        "",
        "60.toml:versions[0]",
        "regles.incomplet",
        id="first-version-incomplete",
    ),
    pytest.param(
        "80.toml",
        'departement = "80"',
        'departement = "81"',
        "80.toml:departement",
        "regles.nom_fichier",
        id="file-of-another-departement",
    ),
    pytest.param(
        "62.toml",
        "[versions.contact]",
        "[versions.contakt]",
        "62.toml:versions[0].contakt",
        "champ.inconnu",
        id="misspelt-key",
    ),
    pytest.param(
        "59.toml",
        'code = "59_transport_adapte"',
        'code = "59_aide_menagere_ph"',
        "59.toml:versions[0].aides_extra_legales",
        "regles.aide_double",
        id="same-aid-twice",
    ),
    pytest.param(
        "02.toml",
        'nom = "Aisne"',
        'nom = "Aisne',
        "02.toml",
        "regles.lecture",
        id="toml-syntax",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "path", "code"), BROKEN)
def test_a_broken_rule_file_is_refused_with_its_file_and_field(
    tmp_path: Path, name: str, old: str, new: str, path: str, code: str
) -> None:
    folder = _copy_rules(tmp_path)
    _edit(folder, name, old, new)

    with pytest.raises(RulesError) as caught:
        load_rulebook(folder)

    assert (path, code) in [(p["chemin"], p["code"]) for p in caught.value.problems]
    assert str(caught.value).startswith("Règles des départements invalides :")
    assert path in str(caught.value)


def test_the_national_rates_are_required(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    (folder / "national.toml").unlink()

    with pytest.raises(RulesError, match=r"national\.toml"):
        load_rulebook(folder)


def test_the_service_does_not_start_on_a_broken_rule_file(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    _edit(folder, "62.toml", "valeur = 22.00", "valeur = 19.50")
    settings = {
        "SECRET_KEY": "x",
        "STAGING_KEYS": generate_staging_key("test"),
        "SIGNING_KEYS": generate_hub_key("test"),
        "RULES_DIR": str(folder),
    }

    with pytest.raises(RulesError, match=r"62\.toml:versions\[0\]\.pch_tarif_prestataire"):
        create_app(settings)


def test_rules_check_lists_each_departement_and_what_is_left_to_confirm() -> None:
    result = CliRunner().invoke(main, ["rules", "check"])

    assert result.exit_code == 0, result.output
    assert "Règles valides" in result.output
    for code in HAUTS_DE_FRANCE:
        assert f"\n  {code} " in result.output
    assert "valeur(s) à confirmer" in result.output
    # Which values, per département and for the national amounts.
    assert "62 Pas-de-Calais : 1 version(s), la dernière du 01/01/2022 ; 3 valeur(s) à " in (
        result.output
    )
    assert "à confirmer : pch_tarif_prestataire, pch_mode_versement, contact" in result.output
    assert "tarif_plancher_saad" in result.output.split("\n  national")[1].split("\n")[0]


def test_rules_explain_refuses_the_origin_as_destination_like_the_api() -> None:
    example = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"

    result = CliRunner().invoke(main, ["rules", "explain", str(example), "--to", "59"])

    assert result.exit_code == 1
    assert "La MDPH de destination doit être différente de l'origine." in result.output


def test_rules_explain_refuses_an_overseas_collectivity_saying_why() -> None:
    example = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"

    result = CliRunner().invoke(main, ["rules", "explain", str(example), "--to", "977"])

    assert result.exit_code == 1
    assert "Le code 977 désigne Saint-Barthélemy, collectivité d'outre-mer" in result.output


def test_rules_explain_to_a_departement_without_rule_file_uses_the_national_rules() -> None:
    example = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"

    result = CliRunner().invoke(main, ["rules", "explain", str(example), "--to", "974"])

    assert result.exit_code == 0, result.output
    assert "règles et tarifs nationaux sont appliqués" in result.output


def test_rules_check_fails_on_a_broken_file(tmp_path: Path) -> None:
    folder = _copy_rules(tmp_path)
    _edit(folder, "62.toml", "valeur = 22.00", "valeur = 19.50")

    result = CliRunner().invoke(
        main, ["rules", "check"], env={"MDPH_BRIDGE_RULES_DIR": str(folder)}
    )

    assert result.exit_code == 1
    assert "regles.plancher" in result.output
    assert "sous le plancher national" in result.output


def test_rules_diff_shows_what_differs_between_59_and_62() -> None:
    result = CliRunner().invoke(main, ["rules", "diff", "59", "62", "--date", "2026-11-02"])

    assert result.exit_code == 0, result.output
    assert "59@2022-01-01 et 62@2022-01-01" in result.output
    assert "Versement de la PCH\n  59 : cesu (à confirmer)\n  62 : virement (à confirmer)" in (
        result.output
    )
    assert "« Aide au transport adapté du Nord » : sans équivalent dans le 62" in result.output
    assert "équivalent « Aide ménagère du Pas-de-Calais » dans le 62" in result.output


def test_rules_diff_refuses_a_departement_without_rules() -> None:
    result = CliRunner().invoke(main, ["rules", "diff", "59", "75"])

    assert result.exit_code == 1
    assert "Aucune règle en vigueur le" in result.output
    assert "pour le 75" in result.output


def test_rules_explain_prints_the_report_of_a_dossier_file(tmp_path: Path) -> None:
    example = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"
    html = tmp_path / "rapport.html"

    result = CliRunner().invoke(
        main, ["rules", "explain", str(example), "--to", "62", "--html", str(html)]
    )

    assert result.exit_code == 0, result.output
    assert "D2 PCH aide humaine : Maintenu, changement de payeur" in result.output
    assert "Le département du Nord (59) verse jusqu'au 01/02/2027" in result.output
    # 2027 amounts (the switch day): 60 h × 25,00 € (2026 floor, over 62's 22 €) + 30 h × 7,16 €
    # (carer who gave up work), against 60 h × 21,00 € (declared) + 30 h × 7,16 € at the origin.
    assert "passe de 1\u202f474,80 € à 1\u202f714,80 €" in result.output
    assert "Montant provisoire" in result.output
    assert "Demande de CMI priorité déposée le 15/09/2026" in result.output
    assert "Alertes pour la MDPH d'accueil" in result.output
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Rapport d'harmonisation des droits" in page
    assert "<script" not in page


def test_rules_explain_to_another_departement_uses_its_rules() -> None:
    example = EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json"

    result = CliRunner().invoke(main, ["rules", "explain", str(example), "--to", "80", "--json"])

    assert result.exit_code == 0, result.output
    assert '"mdph_destination": "80"' in result.output
    assert '"80@2022-01-01"' in result.output


def test_dossier_check_refuses_an_aid_the_origin_does_not_grant(tmp_path: Path) -> None:
    data = json.loads((EXAMPLES / "adulte-aah-pch-cmi-rqth" / "dossier.json").read_text())
    data["aides_extra_legales"] = [
        {
            "identifiant": "A1",
            "code": "62_aide_menagere",
            "date_ouverture": "2025-01-01",
            "date_echeance": None,
        }
    ]
    path = tmp_path / "dossier.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    result = CliRunner().invoke(main, ["dossier", "check", str(path)])

    assert result.exit_code == 1
    assert "aides_extra_legales[0].code : Aide extra-légale « 62_aide_menagere » inconnue" in (
        result.output
    )
