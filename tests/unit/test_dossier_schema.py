"""Unit tests of the dossier wire format v1: the example loads, and each mistake gets its code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from dossiers import EXAMPLE, postcode_in
from marshmallow import ValidationError, validate

from schemas.clock import today
from schemas.dossier import DossierSchema, has_medical_content
from schemas.errors import CATALOGUE, flatten

pytestmark = pytest.mark.unit

SHA = "0123456789abcdef" * 4
ENGLISH_DEFAULTS = ("Missing data", "Not a valid", "Unknown field", "Field may not be null")

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """The published adult example, with a single declared document."""
    dossier = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    dossier["pieces"] = dossier["pieces"][:1]
    dossier["pieces"][0]["sha256"] = SHA
    dossier["evaluation_medicale"] = None
    return dossier


def load(dossier: dict[str, Any]) -> dict[str, Any]:
    """Validate a dossier with a fresh schema."""
    return DossierSchema().load(dossier)


def errors_of(dossier: dict[str, Any]) -> list[dict[str, str]]:
    """Validate a dossier that must be refused and return its flat `erreurs` list."""
    with pytest.raises(ValidationError) as caught:
        load(dossier)
    return flatten(caught.value.messages)


def edited(example: dict[str, Any], edit: Edit) -> dict[str, Any]:
    """A deep copy of the example with one change applied."""
    dossier = copy.deepcopy(example)
    edit(dossier)
    return dossier


def setter(path: str, value: Any) -> Edit:
    """Edit that sets a dotted path (list indexes as numbers) to `value`."""

    def edit(dossier: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = dossier
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


def remover(path: str) -> Edit:
    """Edit that deletes a dotted path."""

    def edit(dossier: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = dossier
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return edit


def second_piece(**changes: Any) -> Edit:
    """Edit that appends a copy of the first piece with some keys changed."""

    def edit(dossier: dict[str, Any]) -> None:
        dossier["pieces"].append({**dossier["pieces"][0], **changes})

    return edit


def test_example_file_validates(example: dict[str, Any]) -> None:
    loaded = load(example)

    assert loaded["version_format"] == "1.1"  # the example shows the v1.1 carer hours
    assert loaded["transfert"]["mdph_origine"] == "59"
    assert loaded["transfert"]["mdph_destination"] == "62"
    assert loaded["transfert"]["date_demenagement"] == date(2026, 11, 2)
    assert loaded["transfert"]["consentement"]["date"] == date(2026, 10, 20)
    assert loaded["pieces"][0]["sha256"] == SHA
    assert loaded["pieces"][0]["medical"] is False


def test_optional_lists_default_to_empty(example: dict[str, Any]) -> None:
    dossier = copy.deepcopy(example)
    for key in ("representants_legaux", "demandes_en_cours", "pieces", "evaluation_medicale"):
        del dossier[key]

    loaded = load(dossier)

    assert loaded["representants_legaux"] == []
    assert loaded["demandes_en_cours"] == []
    assert loaded["pieces"] == []
    assert loaded["evaluation_medicale"] is None


INVALID_CASES: list[Any] = [
    pytest.param(setter("version_format", "2"), "version_format", "format.version", id="version-2"),
    pytest.param(setter("version_format", 1), "version_format", "champ.texte", id="version-int"),
    pytest.param(setter("extra", True), "extra", "champ.inconnu", id="unknown-top-level-key"),
    pytest.param(
        setter("transfert.urgence", True),
        "transfert.urgence",
        "champ.inconnu",
        id="unknown-key-in-transfert",
    ),
    pytest.param(
        setter("transfert.consentement.signe", True),
        "transfert.consentement.signe",
        "champ.inconnu",
        id="unknown-key-in-consentement",
    ),
    pytest.param(
        setter("pieces.0.taille", 12),
        "pieces[0].taille",
        "champ.inconnu",
        id="unknown-key-in-piece",
    ),
    pytest.param(
        setter("transfert.mdph_destination", "59"),
        "transfert.mdph_destination",
        "transfert.destination_identique",
        id="origin-equals-destination",
    ),
    pytest.param(
        setter("transfert.motif", "mutation"), "transfert.motif", "champ.choix", id="motif-unknown"
    ),
    pytest.param(
        setter("transfert.date_demenagement", (today() + timedelta(days=31)).isoformat()),
        "transfert.date_demenagement",
        "transfert.date_demenagement",
        id="move-31-days-ahead",
    ),
    pytest.param(
        setter("transfert.date_demenagement", "02/11/2026"),
        "transfert.date_demenagement",
        "champ.date",
        id="move-date-not-iso",
    ),
    pytest.param(
        remover("transfert.consentement.reference"),
        "transfert.consentement.reference",
        "champ.obligatoire",
        id="missing-consent-reference",
    ),
    pytest.param(remover("transfert"), "transfert", "champ.obligatoire", id="missing-transfert"),
    pytest.param(remover("droits"), "droits", "champ.obligatoire", id="missing-droits"),
    pytest.param(setter("pieces", "piece.pdf"), "pieces", "champ.liste", id="pieces-string"),
    pytest.param(setter("pieces", None), "pieces", "champ.nul", id="pieces-null"),
    pytest.param(setter("transfert", "59"), "transfert", "champ.objet", id="transfert-string"),
    pytest.param(
        setter("transfert.numero_dossier_origine", 42),
        "transfert.numero_dossier_origine",
        "champ.texte",
        id="numero-int",
    ),
    pytest.param(
        setter("transfert.numero_dossier_origine", "x" * 41),
        "transfert.numero_dossier_origine",
        "champ.longueur",
        id="numero-too-long",
    ),
    pytest.param(
        setter("pieces.0.medical", "oui"), "pieces[0].medical", "champ.booleen", id="medical-oui"
    ),
    pytest.param(
        setter("pieces.0.type_piece", "certificat_medical"),
        "pieces[0].medical",
        "piece.medicale",
        id="certificat-not-medical",
    ),
    pytest.param(
        setter("pieces.0.type_piece", "evaluation_geva"),
        "pieces[0].medical",
        "piece.medicale",
        id="geva-not-medical",
    ),
    pytest.param(
        setter("pieces.0.type_piece", "photo"),
        "pieces[0].type_piece",
        "champ.choix",
        id="type-piece-unknown",
    ),
    pytest.param(second_piece(), "pieces[1].nom_fichier", "piece.nom_double", id="duplicate-name"),
    pytest.param(
        setter("pieces.0.sha256", SHA.upper()), "pieces[0].sha256", "piece.sha256", id="sha-upper"
    ),
    pytest.param(
        setter("pieces.0.sha256", SHA[:-1]), "pieces[0].sha256", "piece.sha256", id="sha-63"
    ),
    pytest.param(
        setter("pieces.0.sha256", SHA + "0"), "pieces[0].sha256", "piece.sha256", id="sha-65"
    ),
    pytest.param(
        setter("pieces.0.sha256", "g" * 64), "pieces[0].sha256", "piece.sha256", id="sha-not-hex"
    ),
    pytest.param(
        setter("pieces.0.sha256", SHA + "\n"),
        "pieces[0].sha256",
        "piece.sha256",
        id="sha-trailing-newline",
    ),
    pytest.param(setter("pieces", ["x"]), "pieces[0]", "champ.objet", id="piece-not-object"),
]


@pytest.mark.parametrize(("edit", "chemin", "code"), INVALID_CASES)
def test_invalid_dossier_reports_path_and_code(
    example: dict[str, Any], edit: Edit, chemin: str, code: str
) -> None:
    erreurs = errors_of(edited(example, edit))

    assert (chemin, code) in [(e["chemin"], e["code"]) for e in erreurs]


@pytest.mark.parametrize(("edit", "chemin", "code"), INVALID_CASES)
def test_every_error_message_is_french_catalogue_text(
    example: dict[str, Any], edit: Edit, chemin: str, code: str
) -> None:
    erreurs = errors_of(edited(example, edit))

    for item in erreurs:
        assert set(item) == {"chemin", "code", "message"}
        assert item["code"] in CATALOGUE
        assert item["message"].strip()
        assert not any(english in item["message"] for english in ENGLISH_DEFAULTS), item
    ours = next(e for e in erreurs if (e["chemin"], e["code"]) == (chemin, code))
    assert "{" not in ours["message"], "a placeholder was left unfilled"


def test_single_mistake_gives_a_single_error(example: dict[str, Any]) -> None:
    erreurs = errors_of(edited(example, setter("transfert.motif", "mutation")))

    assert len(erreurs) == 1


def test_all_mistakes_are_reported_at_once(example: dict[str, Any]) -> None:
    dossier = copy.deepcopy(example)
    dossier["version_format"] = "2"
    dossier["transfert"]["motif"] = "mutation"
    dossier["pieces"][0]["sha256"] = "nope"

    pairs = {(e["chemin"], e["code"]) for e in errors_of(dossier)}

    assert {
        ("version_format", "format.version"),
        ("transfert.motif", "champ.choix"),
        ("pieces[0].sha256", "piece.sha256"),
    } <= pairs


def test_duplicate_name_message_quotes_the_file_name(example: dict[str, Any]) -> None:
    (item,) = errors_of(edited(example, second_piece()))

    assert "« piece_identite.pdf »" in item["message"]


def test_medical_type_message_names_the_type(example: dict[str, Any]) -> None:
    (item,) = errors_of(edited(example, setter("pieces.0.type_piece", "certificat_medical")))

    assert "« certificat_medical »" in item["message"]


@pytest.mark.parametrize("code", ["20", "96", "970", "979", "2C", "2a", "1", "", "00", "590"])
@pytest.mark.parametrize("field", ["mdph_origine", "mdph_destination"])
def test_bad_departement_code_is_refused(example: dict[str, Any], field: str, code: str) -> None:
    erreurs = errors_of(edited(example, setter(f"transfert.{field}", code)))

    assert (f"transfert.{field}", "departement.code") in [(e["chemin"], e["code"]) for e in erreurs]


@pytest.mark.parametrize(
    ("code", "name"),
    [("975", "Saint-Pierre-et-Miquelon"), ("977", "Saint-Barthélemy"), ("978", "Saint-Martin")],
)
@pytest.mark.parametrize("field", ["mdph_origine", "mdph_destination"])
def test_an_overseas_collectivity_is_refused_as_such(
    example: dict[str, Any], field: str, code: str, name: str
) -> None:
    erreurs = errors_of(edited(example, setter(f"transfert.{field}", code)))

    (item,) = [e for e in erreurs if e["chemin"] == f"transfert.{field}"]
    assert item["code"] == "departement.collectivite_outre_mer"
    assert f"Le code {code} désigne {name}, collectivité d'outre-mer" in item["message"]
    assert "hors plateforme" in item["message"]


@pytest.mark.parametrize(("postcode", "commune"), [("97133", "Saint-Barthélemy"), ("97500", None)])
def test_a_new_address_in_an_overseas_collectivity_is_refused_as_such(
    example: dict[str, Any], postcode: str, commune: str | None
) -> None:
    dossier = edited(example, setter("transfert.mdph_destination", "971"))
    dossier["beneficiaire"]["adresse_nouvelle"]["code_postal"] = postcode
    if commune:
        dossier["beneficiaire"]["adresse_nouvelle"]["commune"] = commune

    erreurs = errors_of(dossier)

    assert [e["code"] for e in erreurs] == ["adresse.collectivite_outre_mer"]
    assert "collectivité d'outre-mer et non département" in erreurs[0]["message"]


@pytest.mark.parametrize("code", ["59\n", "2A\n"])
def test_departement_code_with_trailing_newline_is_refused(
    example: dict[str, Any], code: str
) -> None:
    erreurs = errors_of(edited(example, setter("transfert.mdph_origine", code)))

    assert ("transfert.mdph_origine", "departement.code") in [
        (e["chemin"], e["code"]) for e in erreurs
    ]


@pytest.mark.parametrize("code", ["01", "09", "19", "21", "2A", "2B", "95", "971", "976"])
@pytest.mark.parametrize("field", ["mdph_origine", "mdph_destination"])
def test_valid_departement_code_is_accepted(example: dict[str, Any], field: str, code: str) -> None:
    dossier = edited(example, setter(f"transfert.{field}", code))
    address = "adresse_nouvelle" if field == "mdph_destination" else "adresse_precedente"
    dossier["beneficiaire"][address]["code_postal"] = postcode_in(code)

    loaded = load(dossier)

    assert loaded["transfert"][field] == code


@pytest.mark.parametrize("days", [-365, 0, 30])
def test_move_date_up_to_30_days_ahead_is_accepted(example: dict[str, Any], days: int) -> None:
    moved = (today() + timedelta(days=days)).isoformat()

    loaded = load(edited(example, setter("transfert.date_demenagement", moved)))

    assert loaded["transfert"]["date_demenagement"].isoformat() == moved


@pytest.mark.parametrize("type_piece", ["certificat_medical", "evaluation_geva", "compte_rendu"])
def test_medical_piece_with_medical_true_is_accepted(
    example: dict[str, Any], type_piece: str
) -> None:
    dossier = copy.deepcopy(example)
    dossier["pieces"][0].update(type_piece=type_piece, medical=True)

    assert load(dossier)["pieces"][0]["medical"] is True


def test_distinct_file_names_are_accepted(example: dict[str, Any]) -> None:
    dossier = edited(example, second_piece(nom_fichier="domicile.pdf"))

    assert [p["nom_fichier"] for p in load(dossier)["pieces"]] == [
        "piece_identite.pdf",
        "domicile.pdf",
    ]


@pytest.mark.parametrize(
    ("evaluation", "medical_flags", "expected"),
    [
        (None, [], False),
        (None, [False, False], False),
        (None, [False, True], True),
        ({"diagnostics": []}, [], True),
        ({}, [False], True),
    ],
    ids=["nothing", "admin-pieces", "one-medical-piece", "evaluation", "empty-evaluation"],
)
def test_has_medical_content(
    example: dict[str, Any],
    evaluation: dict[str, Any] | None,
    medical_flags: list[bool],
    expected: bool,
) -> None:
    dossier = copy.deepcopy(example)
    dossier["evaluation_medicale"] = evaluation
    dossier["pieces"] = [
        {**example["pieces"][0], "nom_fichier": f"p{i}.pdf", "medical": flag}
        for i, flag in enumerate(medical_flags)
    ]

    assert has_medical_content(load(dossier)) is expected


def test_has_medical_content_on_the_example_is_false(example: dict[str, Any]) -> None:
    assert has_medical_content(load(example)) is False


@pytest.mark.parametrize("written", ["20261102", "2026-W44-1", "2026-11-2", "02/11/2026"])
def test_dates_must_be_written_aaaa_mm_jj(example: dict[str, Any], written: str) -> None:
    dossier = copy.deepcopy(example)
    dossier["transfert"]["date_demenagement"] = written
    assert ("transfert.date_demenagement", "champ.date") in {
        (e["chemin"], e["code"]) for e in errors_of(dossier)
    }


def test_a_load_builds_no_validator(
    example: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each field's validators are combined once, when the schema is built, not for each value
    checked (marshmallow's own `_validate` builds an `And` per value); every problem of a value
    is still reported."""
    schema = DossierSchema()
    schema.load(example)  # builds the nested schemas
    built: list[object] = []
    real = validate.And.__init__

    def counted(self: validate.And, *validators: Any) -> None:
        built.append(self)
        real(self, *validators)

    monkeypatch.setattr(validate.And, "__init__", counted)
    schema.load(example)
    assert built == []
    broken = copy.deepcopy(example)
    broken["beneficiaire"]["nom_usage"] = "D" * 100 + "4"  # too long, and a digit
    with pytest.raises(ValidationError) as caught:
        schema.load(broken)
    assert built == []
    assert [e["code"] for e in flatten(caught.value.messages)] == [
        "champ.longueur",
        "personne.nom",
    ]
