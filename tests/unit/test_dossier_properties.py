"""Property-based tests of the dossier wire format v1 (docs/FORMAT.md).

1. Random variations of the four published examples that keep every rule true are accepted.
2. One random structural mutation of such a valid dossier (value of the wrong JSON type, null
   where the field is not nullable, required key deleted, unknown key added) is refused, with an
   error at the mutated path and the code of that kind of mistake.

Which mutations must be refused is derived from the schema itself (`required`, `allow_none`,
field classes). Three bugs found by these properties have a minimal regression test at the end
of the file, and the strategies below lean towards their cases (0 and 1 for booleans, a key named
`_schema`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from dossiers import EXAMPLES, identical, marshmallow_only
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from mdph_bridge.territoires import departement_of
from schemas.base import WireSchema
from schemas.clock import reference_date
from schemas.dossier import DossierSchema
from schemas.errors import flatten
from schemas.trusted import trusted_loader

pytestmark = pytest.mark.unit

Dossier = dict[str, Any]
Path = tuple[str | int, ...]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written under the project (.hypothesis/examples)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EXAMPLE_DATA: dict[str, Dossier] = {
    path.parent.name: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(EXAMPLES.glob("*/dossier.json"))
}

# Vocabulary copied from docs/FORMAT.md, not imported from the schema under test.
MOTIFS = ("demenagement", "domicile_secours", "demande_usager", "orientation_frontaliere")
NATURES = ("attribution", "renouvellement", "revision")
PAYEURS = ("caf", "msa", "departement", "assurance_maladie", "education_nationale", "etat", "autre")
# Every right drawn here still runs at the move: `echu` would be refused (droit.statut_echu).
STATUTS = ("actif", "suspendu")
# Who pays what (docs/DOMAIN.md §3.2): PCH and allocation compensatrice a département, AAH and
# AEEH the CAF or MSA; any payer for the other categories.
PAYEURS_BY_CATEGORY = {
    "1": ("caf", "msa"),
    "2": ("departement",),
    "5": ("departement",),
    "6": ("caf", "msa"),
}
ETAPES = ("recevabilite", "evaluation", "decision")
QUALITES = ("parent", "tuteur", "curateur", "mandataire_special", "autre")
RATES = ("<50", "50-79", ">=80")
METRO = tuple(f"{n:02d}" for n in range(1, 96) if n != 20)
DEPARTEMENTS = (*METRO, "2A", "2B", "971", "972", "973", "974", "976")  # 975 is a collectivity
ALWAYS_MEDICAL = ("certificat_medical", "evaluation_geva")
# `jugement_protection` is left out of the random document types: it would make a legal
# representative mandatory, which the examples without one do not have.
FREE_PIECE_TYPES = (
    "piece_identite",
    "justificatif_domicile",
    "notification_decision",
    "compte_rendu",
    "autre",
)
ALL_R420_TYPES = (
    *(f"1.{n}" for n in range(1, 3)),
    *(f"2.{n}" for n in range(1, 3)),
    "3",
    *(f"4.{n}" for n in range(1, 4)),
    *(f"5.{n}" for n in range(1, 11)),
    *(f"6.{n}" for n in range(1, 8)),
    *(f"7.{n}" for n in (*range(1, 14), 99)),
    *(f"8.{n}" for n in range(1, 11)),
    "9",
    *(f"10.{n}" for n in range(1, 3)),
    *(f"11.{n}" for n in range(1, 8)),
    "12",
    *(f"13.{n}" for n in (*range(1, 6), 99)),
    "14",
)
# Extra rights added to a valid dossier: no incapacity rate required, no age condition, no PCH
# block nor AEEH complément, no option conflict with the examples' rights (AEEH complément, PCH),
# legal maximum of 10 years or more; only the RQTH (12) may be granted without a time limit.
EXTRA_RIGHT_TYPES = (
    "3",
    "4.1",
    *(f"8.{n}" for n in range(1, 11)),
    "9",
    "10.1",
    "10.2",
    *(f"11.{n}" for n in range(1, 8)),
    "12",
    *(f"13.{n}" for n in (*range(1, 6), 99)),
    "14",
)

# "Today" is drawn in a window where every example is valid: after their moves (2026-10-15 and
# 2026-11-02, at most 30 days ahead) and their pending request (2026-09-15), before any of their
# rights has been over for 12 months at the latest move date drawn (today + 30 days).
TODAY_MIN = date(2026, 11, 2)
TODAY_MAX = date(2027, 6, 30)
MOVE_MIN = date(2025, 6, 1)  # every adult of the examples is of age by then, the child is not
MAX_MOVE_AHEAD = timedelta(days=30)
CERTIFICATE_MAX_AGE = timedelta(days=360)  # under the 12 months of the rule, whatever the month


# Text


# Characters that no text field accepts (schemas.base.clean_text and visible_text): C0 controls
# except tab, LF and CR, DEL, C1 controls, and the bidirectional embeddings, overrides and
# isolates. Lone surrogates are excluded by the Cs category below.
FORBIDDEN_CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))
FORBIDDEN_CONTROLS += "\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
FORBIDDEN_CONTROLS += "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
FREE_CHAR = st.characters(exclude_categories=("Cs",), exclude_characters=FORBIDDEN_CONTROLS)


@functools.cache
def free_text(low: int, high: int) -> st.SearchStrategy[str]:
    """Any storable text of `low` to `high` characters."""
    return st.text(FREE_CHAR, min_size=low, max_size=high)


FRENCH_LETTERS = (
    "abcdefghijklmnopqrstuvwxyzàâäçéèêëîïôöùûüÿœæABCDEFGHIJKLMNOPQRSTUVWXYZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ"
)
LETTER = st.sampled_from(FRENCH_LETTERS) | st.characters(categories=("L",))
SEPARATORS = " -'’"
COMBINING_ACCENTS = "\u0300\u0301\u0302\u0308\u0327"  # ` ´ ^ ¨ ¸ written decomposed
NAME_CHAR = st.characters(categories=("L",), include_characters=SEPARATORS + COMBINING_ACCENTS)


def _accents_on_letters(text: str) -> str:
    """Drop the combining accents that do not follow a letter (or another accent on one)."""
    kept, on_letter = [], False
    for char in text:
        if char in COMBINING_ACCENTS and not on_letter:
            continue
        kept.append(char)
        on_letter = char not in SEPARATORS
    return "".join(kept)


@st.composite
def person_names(draw: st.DrawFn) -> str:
    """1 to 100 letters (any script; accents composed or not), spaces, hyphens, apostrophes;
    one letter at least, an accent only on a letter."""
    rest = _accents_on_letters(draw(st.text(NAME_CHAR, max_size=99)))
    at = draw(st.integers(0, len(rest)))
    return rest[:at] + draw(LETTER) + rest[at:]


@functools.cache
def digits(count: int) -> st.SearchStrategy[str]:
    """`count` decimal digits."""
    return st.text("0123456789", min_size=count, max_size=count)


SHA256 = st.text("0123456789abcdef", min_size=64, max_size=64)
ISO_DATE = st.dates(date(1990, 1, 1), date(2040, 12, 31)).map(date.isoformat)


def past_date(today: date) -> st.SearchStrategy[str]:
    """A date no later than `today` (decisions, consents and documents cannot be in the future)."""
    return st.dates(date(1990, 1, 1), today).map(date.isoformat)


FILE_NAME = st.tuples(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=40),
    st.sampled_from((".pdf", ".jpg", ".jpeg", ".png")),
).map("".join)


# Identifiers


def nir_key(first_13: str) -> str:
    """NIR key: 97 - n mod 97, Corsica's 2A and 2B read as 19 and 18."""
    number = first_13[:5] + {"2A": "19", "2B": "18"}.get(first_13[5:7], first_13[5:7])
    return f"{97 - int(number + first_13[7:]) % 97:02d}"


@st.composite
def nirs(draw: st.DrawFn, sexe: str, birth: date, born_in: str) -> str:
    """A NIR with a valid key, consistent with `sexe`, `birth` (or an unknown month) and the
    commune of birth."""
    sex_digit = draw(st.sampled_from("137" if sexe == "M" else "248"))
    month = draw(st.just(birth.month) | st.integers(20, 99))
    first_13 = f"{sex_digit}{birth:%y}{month:02d}{born_in}{draw(digits(3))}"
    return first_13 + nir_key(first_13)


def luhn_digit(number: str) -> str:
    """The Luhn check digit to append to `number`."""
    total = 0
    for position, char in enumerate(reversed(number)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


@st.composite
def finess_numbers(draw: st.DrawFn) -> str:
    """A FINESS number: département (2A/2B, 97, 98 too), 6 digits, Luhn key (2A/2B as 21/22)."""
    prefix = draw(st.sampled_from((*METRO, "2A", "2B", "97", "98")))
    body = prefix + draw(digits(6))
    return body + luhn_digit(body.replace("2A", "21").replace("2B", "22"))


@functools.cache
def postcodes_in(departement: str) -> st.SearchStrategy[str]:
    """A postcode of `departement` (Corsica: 200xx-201xx 2A, 202xx-206xx 2B; overseas 97x)."""
    if departement == "2A":
        return st.tuples(st.sampled_from("01"), digits(2)).map(lambda t: "20" + "".join(t))
    if departement == "2B":
        return st.tuples(st.sampled_from("23456"), digits(2)).map(lambda t: "20" + "".join(t))
    # Not one La Poste gives to another territory (97133 is Saint-Barthélemy, not Guadeloupe).
    return (
        digits(5 - len(departement))
        .map(lambda rest: departement + rest)
        .filter(lambda code: departement_of(code) == departement)
    )


ANY_POSTCODE = st.sampled_from(DEPARTEMENTS).flatmap(postcodes_in)
INSEE_COMMUNE = st.one_of(
    st.tuples(st.sampled_from((*METRO, "2A", "2B")), digits(3)).map("".join),
    st.tuples(st.sampled_from("123456"), digits(2)).map(lambda t: "97" + "".join(t)),
    digits(3).map(lambda rest: "99" + rest),  # born abroad
)


# Valid variations


def optional(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An optional key: the sentinel ABSENT, null, or a value."""
    return st.just(ABSENT) | st.none() | value


ABSENT = object()


def put(node: dict[str, Any], key: str, value: Any) -> None:
    """Set `key`, or remove it for ABSENT."""
    if value is ABSENT:
        node.pop(key, None)
    else:
        node[key] = value


@st.composite
def addresses(draw: st.DrawFn, postcode: st.SearchStrategy[str] = ANY_POSTCODE) -> Dossier:
    """A postal address, `ligne2` absent, null or set."""
    address = {
        "ligne1": draw(free_text(1, 100)),
        "code_postal": draw(postcode),
        "commune": draw(person_names()),
    }
    put(address, "ligne2", draw(optional(free_text(1, 100))))
    return address


@st.composite
def representatives(draw: st.DrawFn) -> Dossier:
    """A legal representative; a guardian or a curator quotes the judgement."""
    qualite = draw(st.sampled_from(QUALITES))
    representative = {
        "qualite": qualite,
        "nom": draw(person_names()),
        "prenoms": draw(st.lists(person_names(), min_size=1, max_size=3)),
    }
    put(representative, "date_naissance", draw(optional(ISO_DATE)))
    judgement = free_text(1, 100)
    put(
        representative,
        "reference_jugement",
        draw(judgement if qualite in ("tuteur", "curateur") else optional(judgement)),
    )
    put(representative, "adresse", draw(optional(addresses())))
    return representative


HOURS = st.integers(0, 744) | st.floats(0, 744, allow_nan=False)


@st.composite
def pch_blocks(draw: st.DrawFn) -> Dossier:
    """A PCH block with amounts within their bounds."""
    block = {
        "heures_mensuelles": {
            key: draw(HOURS)
            for key in ("emploi_direct", "mandataire", "prestataire", "aidant_familial")
        },
        "montant_mensuel": draw(st.integers(0, 100_000) | st.floats(0, 100_000)),
        "payeur_departement": draw(st.sampled_from(DEPARTEMENTS)),
    }
    put(block, "tarif_horaire_prestataire", draw(optional(st.floats(0, 1000))))
    put(block, "payee_jusquau", draw(optional(ISO_DATE)))
    return block


@st.composite
def extra_rights(draw: st.DrawFn, moved: date, today: date) -> Dossier:
    """A right without rate nor age condition, running at the move, within its legal maximum."""
    type_ = draw(st.sampled_from(EXTRA_RIGHT_TYPES))
    opened = moved - timedelta(days=draw(st.integers(0, 4 * 365)))
    decided = opened + timedelta(days=draw(st.integers(-2 * 365, 150)))  # ≤ opening + 6 months
    decided = min(decided, today)
    unlimited = type_ == "12" and draw(st.booleans())
    ends = None
    if not unlimited:  # after the move, under 10 years after the opening
        ends = opened + timedelta(days=draw(st.integers((moved - opened).days + 1, 9 * 365)))
    return {
        "identifiant": "",  # set with the others, unique
        "categorie": type_.split(".")[0],
        "type": type_,
        "nature": draw(st.sampled_from(NATURES)),
        "date_decision": decided.isoformat(),
        "date_ouverture": opened.isoformat(),
        "date_echeance": None if ends is None else ends.isoformat(),
        "sans_limitation_duree": unlimited,
        "taux_incapacite": draw(st.none() | st.sampled_from(RATES)),
        "payeur": draw(st.sampled_from(PAYEURS_BY_CATEGORY.get(type_.split(".")[0], PAYEURS))),
        "statut": draw(st.sampled_from(STATUTS)),
        "etablissement_finess": draw(st.none() | finess_numbers()),
        "creton": draw(st.booleans()),
        "pch": None,
        "aeeh_complement": None,
    }


@st.composite
def extra_requests(draw: st.DrawFn, birth: date, today: date) -> Dossier:
    """A pending request lodged between the birth and today, with a certificate under a year."""
    lodged = draw(st.dates(max(birth, today - timedelta(days=3 * 365)), today))
    certified = lodged - timedelta(days=draw(st.integers(0, CERTIFICATE_MAX_AGE.days)))
    return {
        "type": draw(st.sampled_from(ALL_R420_TYPES)),
        "date_depot": lodged.isoformat(),
        "etape": draw(st.sampled_from(ETAPES)),
        "date_certificat_medical": certified.isoformat(),
    }


@st.composite
def extra_pieces(draw: st.DrawFn) -> Dossier:
    """A document declaration (its file name is set with the others, unique)."""
    return {
        "nom_fichier": "",
        "type_piece": draw(st.sampled_from(FREE_PIECE_TYPES + ALWAYS_MEDICAL)),
        "medical": True,
        "sha256": "",
        "date": "",
    }


JSON_SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON_VALUE = (
    JSON_SCALAR
    | st.lists(JSON_SCALAR, max_size=3)
    | st.dictionaries(st.text(max_size=5), JSON_SCALAR, max_size=3)
)
JSON_OBJECT = st.dictionaries(st.text(max_size=10), JSON_VALUE, max_size=4)


@dataclass(frozen=True)
class Case:
    """A dossier and the day it is validated on."""

    today: date
    data: Dossier
    example: str


@st.composite
def valid_dossiers(draw: st.DrawFn) -> Case:
    """One of the four examples with random variations that keep every rule true."""
    example = draw(st.sampled_from(sorted(EXAMPLE_DATA)))
    data = copy.deepcopy(EXAMPLE_DATA[example])
    today = draw(st.dates(TODAY_MIN, TODAY_MAX))
    person, transfer = data["beneficiaire"], data["transfert"]
    birth = date.fromisoformat(person["date_naissance"])

    # Transfer: any two départements, the new home in the destination unless domicile de secours.
    origin, destination = draw(
        st.lists(st.sampled_from(DEPARTEMENTS), min_size=2, max_size=2, unique=True)
    )
    motif = draw(st.sampled_from(MOTIFS))
    moved = draw(st.dates(max(birth, MOVE_MIN), today + MAX_MOVE_AHEAD))
    transfer.update(
        mdph_origine=origin,
        mdph_destination=destination,
        numero_dossier_origine=draw(free_text(1, 40)),
        motif=motif,
        date_demenagement=moved.isoformat(),
        consentement={"date": draw(past_date(today)), "reference": draw(free_text(1, 100))},
    )

    # The person: names, NIR agreeing with sex and birth, addresses, establishment.
    sexe = draw(st.sampled_from("FM"))
    new_home = {"domicile_secours": ANY_POSTCODE, "orientation_frontaliere": postcodes_in(origin)}
    born_in = draw(INSEE_COMMUNE)
    person.update(
        nir=draw(nirs(sexe, birth, born_in)),
        nir_certifie=draw(st.booleans()),
        nom_naissance=draw(person_names()),
        prenoms=draw(st.lists(person_names(), min_size=1, max_size=4)),
        nom_usage=draw(st.none() | person_names()),
        sexe=sexe,
        code_insee_naissance=born_in,
        adresse_precedente=draw(addresses(postcodes_in(origin))),
        adresse_nouvelle=draw(addresses(new_home.get(motif, postcodes_in(destination)))),
        etablissement_accueil_finess=draw(st.none() | finess_numbers()),
    )

    # Representatives: as many as in the example (a minor or a protected adult needs one), new
    # ones, and maybe some more.
    count = len(data["representants_legaux"]) + draw(st.integers(0, 2))
    data["representants_legaux"] = draw(st.lists(representatives(), min_size=count, max_size=count))

    # Rights: the example's with new identifiants, nature, payer, status…, plus extra ones.
    rights = data["droits"] + draw(st.lists(extra_rights(moved, today), max_size=2))
    ids = draw(st.lists(free_text(1, 64), min_size=len(rights), max_size=len(rights), unique=True))
    for right, identifiant in zip(rights, ids, strict=True):
        right.update(
            identifiant=identifiant,
            nature=draw(st.sampled_from(NATURES)),
            payeur=draw(st.sampled_from(PAYEURS_BY_CATEGORY.get(right["categorie"], PAYEURS))),
            statut=draw(st.sampled_from(STATUTS)),
            etablissement_finess=draw(st.none() | finess_numbers()),
        )
        if right["categorie"] == "5":
            right["pch"] = draw(pch_blocks())
        right["creton"] = draw(st.booleans())  # no child establishment past 20 in the examples
    data["droits"] = draw(st.permutations(rights))

    # Pending requests: the example's, plus random ones with coherent dates.
    requests = data["demandes_en_cours"] + draw(st.lists(extra_requests(birth, today), max_size=3))
    data["demandes_en_cours"] = draw(st.permutations(requests))

    # Documents: unique new names, hashes, dates; medical whenever the type says so.
    pieces = data["pieces"] + draw(st.lists(extra_pieces(), max_size=2))
    names = draw(st.lists(FILE_NAME, min_size=len(pieces), max_size=len(pieces), unique=True))
    for piece, name in zip(pieces, names, strict=True):
        always_medical = piece["type_piece"] in ALWAYS_MEDICAL
        piece.update(
            nom_fichier=name,
            sha256=draw(SHA256),
            date=draw(past_date(today)),
            medical=True if always_medical else draw(st.booleans()),
        )
    data["pieces"] = draw(st.permutations(pieces))

    data["evaluation_medicale"] = draw(st.none() | JSON_OBJECT)

    # Optional top-level keys may be left out when they hold their default.
    for key, default in (
        ("representants_legaux", []),
        ("demandes_en_cours", []),
        ("evaluation_medicale", None),
    ):
        if data[key] == default and draw(st.booleans()):
            del data[key]
    return Case(today, data, example)


def load(case: Case) -> dict[str, Any]:
    """Validate the case's dossier on its day, with a new schema as a submission does."""
    with reference_date(case.today):
        return DossierSchema().load(case.data)


@SETTINGS
@given(valid_dossiers())
def test_valid_variations_of_the_examples_are_accepted(case: Case) -> None:
    try:
        loaded = load(case)
    except ValidationError as error:
        pytest.fail(f"valid variation of {case.example} refused: {flatten(error.messages)}")
    person = case.data["beneficiaire"]
    assert loaded["beneficiaire"]["prenoms"] == person["prenoms"]
    assert loaded["beneficiaire"]["nom_naissance"] == person["nom_naissance"]
    assert [right["identifiant"] for right in loaded["droits"]] == [
        right["identifiant"] for right in case.data["droits"]
    ]
    assert [piece["nom_fichier"] for piece in loaded["pieces"]] == [
        piece["nom_fichier"] for piece in case.data.get("pieces", [])
    ]


@SETTINGS
@given(valid_dossiers())
def test_a_valid_variation_loads_the_same_without_the_validators(case: Case) -> None:
    """What the worker builds from a dossier validated at submission (schemas/trusted.py)."""
    loaded = load(case)
    trusted = trusted_loader(DossierSchema())(copy.deepcopy(case.data))
    identical(trusted, loaded)


# Mutations


@dataclass(frozen=True)
class FieldSite:
    """A value the schema declares: a key of an object, or an item of a list."""

    path: Path
    field: fields.Field
    in_object: bool  # a key of an object (can be deleted), not a list item
    present: bool


@dataclass(frozen=True)
class ObjectSite:
    """An object the schema describes key by key: a place for an unknown key."""

    path: Path
    schema: Schema


Site = FieldSite | ObjectSite


WALKED_SCHEMA = DossierSchema()


def sites_of(data: Dossier) -> Iterator[Site]:
    """Every place of `data` the schema describes: declared keys (present or not), list items,
    objects. The free content of `evaluation_medicale` (a Dict field) is not walked into."""
    yield from _object_sites(data, WALKED_SCHEMA, ())


def _object_sites(node: dict[str, Any], schema: Schema, path: Path) -> Iterator[Site]:
    yield ObjectSite(path, schema)
    for name, field in schema.fields.items():
        yield FieldSite((*path, name), field, in_object=True, present=name in node)
        if name in node:
            yield from _value_sites(node[name], field, (*path, name))


def _value_sites(value: Any, field: fields.Field, path: Path) -> Iterator[Site]:
    if isinstance(field, fields.Nested) and isinstance(value, dict):
        yield from _object_sites(value, field.schema, path)
    elif isinstance(field, fields.List) and isinstance(value, list):
        for index, item in enumerate(value):
            yield FieldSite((*path, index), field.inner, in_object=False, present=True)
            yield from _value_sites(item, field.inner, (*path, index))


def chemin(path: Path) -> str:
    """The path as the `erreurs` list writes it: droits[2].date_echeance."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


# JSON type expected by each field class, and the code of a value of another type. Order
# matters: the first matching class wins (Number is a Float, WholeNumber an Integer).
KINDS: list[tuple[type[fields.Field], str, str]] = [
    (fields.Boolean, "boolean", "champ.booleen"),
    (fields.Integer, "number", "champ.entier"),
    (fields.Float, "number", "champ.nombre"),
    (fields.Date, "string", "champ.date"),
    (fields.String, "string", "champ.texte"),
    (fields.List, "array", "champ.liste"),
    (fields.Nested, "object", "champ.objet"),
    (fields.Dict, "object", "champ.objet"),
]
VALUES_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=20),
    # 0 and 1 equal False and True in Python: the numbers a boolean field is likeliest to take.
    "number": st.sampled_from((0, 1, 0.0, 1.0))
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False),
    "boolean": st.booleans(),
    "array": st.lists(JSON_SCALAR, max_size=3),
    "object": st.dictionaries(st.text(max_size=8), JSON_SCALAR, max_size=3),
}


def kind_of(field: fields.Field) -> tuple[str, str]:
    """The JSON type a field expects and the code of a wrong type."""
    for cls, kind, code in KINDS:
        if isinstance(field, cls):
            return kind, code
    raise AssertionError(f"field class not mapped: {type(field).__name__}")


def wrong_values(field: fields.Field) -> st.SearchStrategy[Any]:
    """Values of every JSON type but the one `field` expects."""
    expected, _ = kind_of(field)
    values = st.one_of([values for kind, values in VALUES_BY_KIND.items() if kind != expected])
    return values


@dataclass(frozen=True)
class Mutation:
    """One mistake made in a valid dossier, and the error it must produce."""

    case: Case
    kind: str
    path: Path
    code: str


def _parent(data: Dossier, path: Path) -> Any:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    return node


# Half the mistakes are made in an example as published (cheap to draw), half in a random valid
# variation (optional keys present or not, more items in the lists).
BASES = (
    st.sampled_from(sorted(EXAMPLE_DATA)).map(
        lambda name: Case(TODAY_MIN, EXAMPLE_DATA[name], name)
    )
    | valid_dossiers()
)


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    """A valid dossier with one structural mistake, at a random place."""
    case = draw(BASES)
    data = copy.deepcopy(case.data)
    site = draw(st.sampled_from(list(sites_of(data))))
    if isinstance(site, ObjectSite):
        # "_schema" is also marshmallow's name for the errors of the object itself.
        key = draw(
            (st.just("_schema") | st.text(max_size=20)).filter(
                lambda k: k not in site.schema.fields
            )
        )
        _parent(data, (*site.path, key))[key] = draw(JSON_SCALAR)
        return Mutation(
            Case(case.today, data, case.example), "inconnu", (*site.path, key), "champ.inconnu"
        )
    kinds = ["type"]
    if not site.field.allow_none:  # null is a valid value of a nullable field
        kinds.append("nul")
    if site.in_object and site.present and site.field.required:  # optional keys have a default
        kinds.append("absent")
    kind = draw(st.sampled_from(kinds))
    parent, last = _parent(data, site.path), site.path[-1]
    if kind == "type":
        parent[last] = draw(wrong_values(site.field))
        code = kind_of(site.field)[1]
    elif kind == "nul":
        parent[last] = None
        code = "champ.nul"
    else:
        del parent[last]
        code = "champ.obligatoire"
    return Mutation(Case(case.today, data, case.example), kind, site.path, code)


@settings(SETTINGS, max_examples=200)
@given(mutations())
def test_one_mistake_is_refused_at_its_path(mutation: Mutation) -> None:
    expected = (chemin(mutation.path), mutation.code)
    note(f"{mutation.kind} at {expected[0]!r} of {mutation.case.example}")
    try:
        load(mutation.case)
    except ValidationError as error:
        errors = flatten(error.messages)
    else:
        pytest.fail(f"mistake accepted: {mutation.kind} at {expected[0]!r}")
    assert expected in {(item["chemin"], item["code"]) for item in errors}, errors


def test_mutation_sites_cover_every_schema() -> None:
    """The walk reaches every object type and every field class of the format."""
    data = copy.deepcopy(EXAMPLE_DATA["adulte-aah-pch-cmi-rqth"])
    data["representants_legaux"] = [
        {"qualite": "parent", "nom": "Exemple", "prenoms": ["Dominique"], "adresse": None}
    ]
    sites = list(sites_of(data))
    schemas = {type(site.schema).__name__ for site in sites if isinstance(site, ObjectSite)}
    assert schemas == {
        "DossierSchema",
        "TransfertSchema",
        "ConsentementSchema",
        "BeneficiaireSchema",
        "AdresseSchema",
        "RepresentantSchema",
        "DroitSchema",
        "PchSchema",
        "HeuresMensuellesSchema",
        "DemandeSchema",
        "PieceSchema",
    }
    field_sites = [site for site in sites if isinstance(site, FieldSite)]
    assert {kind_of(site.field)[1] for site in field_sites} == {code for _, _, code in KINDS}
    assert any(site.path == ("beneficiaire", "prenoms", 0) for site in field_sites)
    assert not any(
        site.path[:1] == ("evaluation_medicale",) and len(site.path) > 1 for site in sites
    )


# Regression tests of the bugs these properties found (fixed in schemas/base.py, schemas/dossier.py
# and schemas/errors.py): each is the minimal reproducer.


def _example_with(path: Path, value: Any) -> Case:
    data = copy.deepcopy(EXAMPLE_DATA["adulte-aah-pch-cmi-rqth"])
    _parent(data, path)[path[-1]] = value
    return Case(TODAY_MIN, data, "adulte-aah-pch-cmi-rqth")


def _errors(case: Case) -> set[tuple[str, str]]:
    try:
        load(case)
    except ValidationError as error:
        return {(item["chemin"], item["code"]) for item in flatten(error.messages)}
    return set()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("beneficiaire", "nir_certifie"), 1),
        (("droits", 0, "sans_limitation_duree"), 0),
        (("droits", 0, "creton"), 0.0),
        (("pieces", 0, "medical"), 1.0),
    ],
)
def test_a_number_is_not_a_boolean(path: Path, value: Any) -> None:
    """Was accepted: marshmallow's Boolean with truthy={True}, falsy={False} let 0 and 1 through
    (`1 in {True}` is true in Python)."""
    assert (chemin(path), "champ.booleen") in _errors(_example_with(path, value))


@pytest.mark.parametrize("parent", [(), ("transfert",), ("droits", 0)])
def test_unknown_key_named_schema_at_its_own_path(parent: Path) -> None:
    """Was reported at the parent's path (`transfert`, or `` at the top level): flatten read the
    key as marshmallow's bucket of object-level errors."""
    path = (*parent, "_schema")
    assert (chemin(path), "champ.inconnu") in _errors(_example_with(path, "x"))


def test_a_new_schema_leaves_the_others_unchanged() -> None:
    """Was growing: binding appended clean_text to a validators list shared by every instance
    (marshmallow copies declared fields shallowly), so each DossierSchema() created made every
    later validation in the process slower."""
    schema = DossierSchema()
    before = len(schema.fields["version_format"].validators)
    DossierSchema()
    assert len(schema.fields["version_format"].validators) == before


# WireSchema's walk over the fields (schemas/base.py) against marshmallow's own


def _answer(case: Case) -> str:
    """All a load answers, in its order: the data loaded, or the errors and what was valid."""
    try:
        return repr(load(case))
    except ValidationError as error:
        return repr((error.messages, error.valid_data))


def _marshmallows_answer(case: Case) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WireSchema, "_deserialize", Schema._deserialize)
        return _answer(case)


OBJECTS = [
    (),
    ("transfert",),
    ("beneficiaire",),
    ("beneficiaire", "adresse_nouvelle"),
    ("droits", 0),
]


def _object_at(data: Dossier, path: Path) -> Dossier | None:
    """The object at `path`, or None where a mistake left something else or nothing."""
    node: Any = data
    for part in path:
        in_object = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_object or in_list):
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


@st.composite
def several_mistakes(draw: st.DrawFn) -> Case:
    """One structural mistake, and up to three unknown keys where the dossier still has objects."""
    case = draw(mutations()).case
    data = copy.deepcopy(case.data)
    for parent in draw(st.lists(st.sampled_from(OBJECTS), max_size=3)):
        node = _object_at(data, parent)
        if node is not None:
            node[draw(st.text(max_size=8))] = draw(JSON_SCALAR)
    return Case(case.today, data, case.example)


@settings(SETTINGS, max_examples=200)
@given(valid_dossiers() | several_mistakes())
def test_the_walk_answers_as_marshmallows(case: Case) -> None:
    """Same data, same errors in the same order, same valid part, valid or not."""
    assert _answer(case) == _marshmallows_answer(case)


class _Inner(WireSchema):
    a = fields.String(required=True)
    b = fields.String(data_key="bee", attribute="b_value")


class _Outer(WireSchema):
    whole = fields.Nested(_Inner)
    narrowed = fields.Nested(_Inner(), only=("a",))  # marshmallow copies the instance, narrowed
    several = fields.List(fields.Nested(_Inner))


@pytest.mark.parametrize(
    "data",
    [
        {"whole": {"a": "x", "bee": "y"}, "narrowed": {"a": "x"}, "several": [{"a": "x"}]},
        {"narrowed": {"a": "x", "bee": "y"}},  # `bee` is no field of the narrowed copy
        {"narrowed": {"bee": "y"}, "whole": {"b_value": "y"}, "several": [{}, {"a": 1}]},
        {"whole": {"a": "x", "unknown": 1}, "other": 2},
    ],
)
def test_the_walk_answers_as_marshmallows_for_keys_attributes_and_narrowed_copies(
    data: dict[str, Any],
) -> None:
    """The dossier's schemas use no `data_key`, `attribute` nor a narrowed `Nested` copy; a schema
    that does must still be walked as marshmallow walks it."""

    def answer() -> str:
        try:
            return repr(_Outer().load(copy.deepcopy(data)))
        except ValidationError as error:
            return repr((error.messages, error.valid_data))

    walked = answer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WireSchema, "_deserialize", Schema._deserialize)
        assert walked == answer()


@settings(SETTINGS, max_examples=200)
@given(valid_dossiers() | several_mistakes())
def test_the_shortcuts_answer_as_marshmallow(case: Case) -> None:
    """Same data, same errors in the same order, same valid part, valid or not."""
    shortcuts = _answer(case)
    with marshmallow_only():
        assert shortcuts == _answer(case)
