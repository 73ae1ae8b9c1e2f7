"""The dossier form on the pages: its steps and fields, and the way between typed text and JSON v1.

A field is named by its path in the dossier (`beneficiaire.adresse_nouvelle.code_postal`,
`droits[1].pch.montant_mensuel`), so that every problem the schemas report at a path lands next
to the field of that name. A step lists its fields declaratively: adding a field of the format is
adding one `Field` to its group. A field that fits only some rights (the PCH plan, an orientation's
FINESS…) says so with `When`: the page hides it, and the dossier leaves it out, for the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mdph_bridge.domain.harmonisation import ESTABLISHMENT_ORIENTATIONS
from mdph_bridge.domain.residence import ESTABLISHMENT, HOSPITAL
from mdph_bridge.domain.rights import (
    AEEH_COMPLEMENTS,
    ALL_TYPES,
    CHILD_ESTABLISHMENT,
    PCH,
    PCH_HUMAN_HELP,
    PCH_ONE_OFF,
    allowed_rates,
    category_of,
    label,
    may_be_unlimited,
    needs_rate,
)

TEXT, CHOICE, DATE, BOOLEAN, NUMBER, INTEGER, NAMES = (
    "texte",
    "choix",
    "date",
    "booleen",
    "nombre",
    "entier",
    "noms",
)
FORMAT_VERSION = "1.1"  # what the form composes; an imported file keeps its own version
_FRENCH_DATE = re.compile(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*")
_INDEX = re.compile(r"\[\d+\]$")
Choices = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class When:
    """A part that fits only when another field of its item holds one of some values."""

    field: str  # path from the item: `type` for a right, `lieu_de_vie.type` for the person
    values: frozenset[str]


@dataclass(frozen=True)
class Field:
    """One input: its path inside its group, its French label, its kind and choices."""

    name: str
    label: str
    kind: str = TEXT
    choices: Choices = ()
    hint: str = ""
    nullable: bool = False  # left empty, the dossier says null rather than missing
    when: When | None = None  # otherwise it fits every item


@dataclass(frozen=True)
class Group:
    """Fields shown together; a nested object of the format when it has a name."""

    name: str
    legend: str
    fields: tuple[Field | Group, ...]
    nullable: bool = False  # every field left empty: the object is null
    when: When | None = None
    item: str = ""  # label of one item, for a group repeated as a list (a PCH's payments)


@dataclass(frozen=True)
class Step:
    """One page of the form: a section of the dossier, or a list of items of one kind."""

    slug: str
    title: str
    section: str  # the dossier's key this step fills
    groups: tuple[Group, ...] = ()
    item: str = ""  # label of one item, for the steps that hold a list
    intro: str = ""

    @property
    def is_list(self) -> bool:
        """Tell whether the step holds a list of items (rights, documents…)."""
        return bool(self.item)


def _codes(*values: str) -> Choices:
    return tuple((value, value) for value in values)


def _natural(type_: str) -> tuple[int, ...]:
    return tuple(int(part) for part in type_.split("."))


YES_NO_HINT = "Cochez si c'est le cas."
MOTIFS: Choices = (
    ("demenagement", "Déménagement"),
    ("domicile_secours", "Domicile de secours"),
    ("demande_usager", "Demande de la personne"),
)
SEXES: Choices = (("F", "Femme"), ("M", "Homme"))
QUALITES: Choices = (
    ("parent", "Parent"),
    ("tuteur", "Tuteur"),
    ("curateur", "Curateur"),
    ("mandataire_special", "Mandataire spécial"),
    ("autre", "Autre"),
)
NATURES: Choices = (
    ("attribution", "Attribution"),
    ("renouvellement", "Renouvellement"),
    ("revision", "Révision"),
)
PAYEURS: Choices = (
    ("caf", "CAF"),
    ("msa", "MSA"),
    ("departement", "Département"),
    ("assurance_maladie", "Assurance maladie"),
    ("education_nationale", "Éducation nationale"),
    ("etat", "État"),
    ("autre", "Autre"),
)
STATUTS: Choices = (("actif", "Actif"), ("echu", "Échu"), ("suspendu", "Suspendu"))
ETAPES: Choices = (
    ("recevabilite", "Recevabilité"),
    ("evaluation", "Évaluation"),
    ("decision", "Décision"),
)
TYPES_PIECE: Choices = (
    ("piece_identite", "Pièce d'identité"),
    ("justificatif_domicile", "Justificatif de domicile"),
    ("jugement_protection", "Jugement de protection"),
    ("certificat_medical", "Certificat médical"),
    ("notification_decision", "Notification de décision"),
    ("evaluation_geva", "Évaluation GEVA"),
    ("compte_rendu", "Compte rendu"),
    ("autre", "Autre"),
)
RIGHT_TYPES: Choices = tuple(
    (type_, f"{type_} — {label(type_)}") for type_ in sorted(ALL_TYPES, key=_natural)
)
RATE_CHOICES: Choices = (
    ("<50", "moins de 50 %"),
    ("50-79", "de 50 à 79 %"),
    (">=80", "80 % ou plus"),
)
PLACES: Choices = (
    ("domicile", "À son domicile"),
    ("etablissement", "En établissement social ou médico-social"),
    ("accueil_familial", "Chez un accueillant familial agréé"),
    ("hopital", "À l'hôpital"),
)
DEPARTEMENT_HINT = "Code du département, par exemple 62 ou 2A."
DATE_HINT = "Au format JJ/MM/AAAA, par exemple 14/03/1985."


def _address(name: str, legend: str, nullable: bool = False) -> Group:
    return Group(
        name,
        legend,
        (
            Field("ligne1", "Numéro et voie"),
            Field("ligne2", "Complément d'adresse (facultatif)", nullable=True),
            Field("code_postal", "Code postal"),
            Field("commune", "Commune"),
        ),
        nullable=nullable,
    )


def _date(
    name: str, text: str, nullable: bool = False, hint: str = DATE_HINT, when: When | None = None
) -> Field:
    return Field(name, text, DATE, hint=hint, nullable=nullable, when=when)


def _of_type(types: frozenset[str]) -> When:
    return When("type", types)


def _types(test: Any) -> frozenset[str]:
    return frozenset(type_ for type_ in ALL_TYPES if test(type_))


PCH_TYPES = _types(lambda t: category_of(t) == PCH)
# The right's fields that fit only some types; the others fit every right.
FOR_PCH = _of_type(PCH_TYPES)
FOR_HUMAN_HELP = _of_type(PCH_HUMAN_HELP)
FOR_MONTHLY_PCH = _of_type(PCH_TYPES - PCH_ONE_OFF)
FOR_ONE_OFF_PCH = _of_type(PCH_ONE_OFF)
FOR_RATED = _of_type(_types(needs_rate))
FOR_UNLIMITED = _of_type(
    _types(lambda t: any(may_be_unlimited(t, rate) for rate in allowed_rates(t)))
)
FOR_ORIENTATIONS = _of_type(_types(lambda t: category_of(t) in ESTABLISHMENT_ORIENTATIONS))
FOR_CHILD_ESTABLISHMENT = _of_type(_types(lambda t: category_of(t) == CHILD_ESTABLISHMENT))
FOR_AEEH_COMPLEMENT = _of_type(frozenset(AEEH_COMPLEMENTS))


STEPS: tuple[Step, ...] = (
    Step(
        "transfert",
        "Transfert",
        "transfert",
        (
            Group(
                "",
                "Destination et motif",
                (
                    Field("mdph_destination", "MDPH d'accueil", hint=DEPARTEMENT_HINT),
                    Field(
                        "numero_dossier_origine",
                        "Numéro du dossier dans votre MDPH",
                        hint="Tel qu'il figure dans votre logiciel métier.",
                    ),
                    Field("motif", "Motif du transfert", CHOICE, MOTIFS),
                    _date("date_demenagement", "Date du déménagement"),
                ),
            ),
            Group(
                "consentement",
                "Demande ou consentement de la personne",
                (
                    _date("date", "Date de la demande ou du consentement"),
                    Field("reference", "Référence de la demande ou du consentement"),
                ),
            ),
        ),
        intro="La MDPH d'origine est la vôtre ; elle est remplie automatiquement.",
    ),
    Step(
        "personne",
        "Personne",
        "beneficiaire",
        (
            Group(
                "",
                "Identité",
                (
                    Field("nom_naissance", "Nom de naissance"),
                    Field(
                        "prenoms", "Prénoms", NAMES, hint="Séparés par des virgules, dans l'ordre."
                    ),
                    Field("nom_usage", "Nom d'usage (facultatif)", nullable=True),
                    _date("date_naissance", "Date de naissance"),
                    Field("sexe", "Sexe", CHOICE, SEXES),
                    Field(
                        "nir",
                        "Numéro de sécurité sociale (NIR)",
                        hint="15 caractères, sans espace, clé comprise.",
                    ),
                    Field("nir_certifie", "NIR certifié par l'INSEE", BOOLEAN, hint=YES_NO_HINT),
                    Field(
                        "code_insee_naissance",
                        "Lieu de naissance : code INSEE de la commune",
                        hint="5 caractères, par exemple 59350 ; 99 suivi du pays pour l'étranger.",
                    ),
                ),
            ),
            _address("adresse_precedente", "Adresse avant le déménagement"),
            _address("adresse_nouvelle", "Nouvelle adresse"),
            Group(
                "lieu_de_vie",
                "Lieu de vie (facultatif)",
                (
                    Field(
                        "type",
                        "Où vit la personne",
                        CHOICE,
                        PLACES,
                        hint="En établissement, en accueil familial ou à l'hôpital, la personne "
                        "n'acquiert pas de domicile de secours : le département d'origine paie.",
                    ),
                    Field(
                        "finess",
                        "FINESS de l'établissement ou de l'hôpital",
                        hint="9 caractères ; obligatoire pour un établissement.",
                        nullable=True,
                        when=When("lieu_de_vie.type", frozenset({ESTABLISHMENT, HOSPITAL})),
                    ),
                    _date("depuis", "Depuis le (facultatif)", nullable=True),
                ),
                nullable=True,
            ),
            Group(
                "",
                "Établissement",
                (
                    Field(
                        "etablissement_accueil_finess",
                        "FINESS de l'établissement d'accueil (facultatif)",
                        hint="9 caractères, si la personne vit en établissement ; le même que "
                        "celui du lieu de vie.",
                        nullable=True,
                    ),
                ),
            ),
        ),
    ),
    Step(
        "representants",
        "Représentant légal",
        "representants_legaux",
        (
            Group(
                "",
                "Représentant",
                (
                    Field("qualite", "Qualité", CHOICE, QUALITES),
                    Field("nom", "Nom"),
                    Field("prenoms", "Prénoms", NAMES, hint="Séparés par des virgules."),
                    _date("date_naissance", "Date de naissance (facultatif)", nullable=True),
                    Field(
                        "reference_jugement",
                        "Référence du jugement",
                        hint="Obligatoire pour un tuteur, un curateur ou un mandataire spécial.",
                        nullable=True,
                    ),
                ),
            ),
            _address("adresse", "Adresse du représentant (facultatif)", nullable=True),
        ),
        item="Représentant",
        intro="Pour un mineur ou un majeur protégé. Laissez vide si la personne n'en a pas.",
    ),
    Step(
        "droits",
        "Droits",
        "droits",
        (
            Group(
                "",
                "Décision",
                (
                    Field("identifiant", "Identifiant du droit", hint="Par exemple D1."),
                    Field("type", "Droit (nomenclature TRE_R420)", CHOICE, RIGHT_TYPES),
                    Field("nature", "Nature de la décision", CHOICE, NATURES),
                    Field("statut", "Statut", CHOICE, STATUTS),
                    _date("date_decision", "Date de la décision de la CDAPH"),
                    _date("date_ouverture", "Date d'ouverture"),
                    _date(
                        "date_echeance",
                        "Date d'échéance",
                        nullable=True,
                        hint=DATE_HINT + " Vide si le droit est sans limitation de durée.",
                    ),
                    Field(
                        "sans_limitation_duree",
                        "Sans limitation de durée",
                        BOOLEAN,
                        hint="Seulement pour l'AAH, la CMI invalidité et l'AEEH de base à 80 % ou "
                        "plus, la RQTH et la PCH.",
                        when=FOR_UNLIMITED,
                    ),
                    Field(
                        "taux_incapacite",
                        "Taux d'incapacité",
                        CHOICE,
                        RATE_CHOICES,
                        hint="Pour l'AAH, l'AEEH, la CMI invalidité ou priorité.",
                        nullable=True,
                        when=FOR_RATED,
                    ),
                    Field("payeur", "Payeur", CHOICE, PAYEURS),
                    Field(
                        "etablissement_finess",
                        "FINESS de l'établissement ou du service (orientations)",
                        hint="9 caractères ; vide si aucun n'est désigné.",
                        nullable=True,
                        when=FOR_ORIENTATIONS,
                    ),
                    Field(
                        "creton",
                        "Amendement Creton",
                        BOOLEAN,
                        hint="Maintien en établissement pour enfants au-delà de 20 ans.",
                        when=FOR_CHILD_ESTABLISHMENT,
                    ),
                    Field(
                        "aeeh_complement",
                        "Complément d'AEEH (1 à 6)",
                        INTEGER,
                        hint="Le numéro du complément choisi comme droit.",
                        nullable=True,
                        when=FOR_AEEH_COMPLEMENT,
                    ),
                ),
            ),
            Group(
                "pch",
                "Prestation de compensation (PCH)",
                (
                    Group(
                        "heures_mensuelles",
                        "Heures d'aide humaine par mois",
                        (
                            Field("emploi_direct", "Emploi direct", NUMBER),
                            Field("mandataire", "Service mandataire", NUMBER),
                            Field("prestataire", "Service prestataire", NUMBER),
                            Field("aidant_familial", "Aidant familial", NUMBER),
                            Field(
                                "aidant_familial_cessation_activite",
                                "Aidant familial ayant cessé son activité (facultatif)",
                                NUMBER,
                            ),
                            Field(
                                "emploi_direct_gestes_soins",
                                "Emploi direct, gestes de soins (facultatif)",
                                NUMBER,
                            ),
                            Field(
                                "mandataire_gestes_soins",
                                "Service mandataire, gestes de soins (facultatif)",
                                NUMBER,
                            ),
                        ),
                        when=FOR_HUMAN_HELP,
                    ),
                    Field(
                        "montant_mensuel",
                        "Montant mensuel (€)",
                        NUMBER,
                        hint="Par exemple 1471,20.",
                        when=FOR_MONTHLY_PCH,
                    ),
                    Field(
                        "tarif_horaire_prestataire",
                        "Tarif horaire prestataire (€, facultatif)",
                        NUMBER,
                        nullable=True,
                        when=FOR_HUMAN_HELP,
                    ),
                    Field(
                        "montant_attribue",
                        "Montant attribué (€, facultatif)",
                        NUMBER,
                        hint="Pour une aide versée en une fois : le total décidé par la CDAPH.",
                        nullable=True,
                        when=FOR_ONE_OFF_PCH,
                    ),
                    Group(
                        "versements",
                        "Versements déjà faits",
                        (
                            Field("montant", "Montant versé (€)", NUMBER),
                            _date("date_versement", "Date du versement"),
                            Field(
                                "payeur_departement",
                                "Département qui a versé",
                                hint=DEPARTEMENT_HINT,
                            ),
                        ),
                        when=FOR_ONE_OFF_PCH,
                        item="Versement",
                    ),
                    Field("payeur_departement", "Département qui paie", hint=DEPARTEMENT_HINT),
                    _date("payee_jusquau", "Payée jusqu'au (facultatif)", nullable=True),
                ),
                nullable=True,
                when=FOR_PCH,
            ),
        ),
        item="Droit",
        intro="Chaque droit décidé par la CDAPH, en cours ou échu depuis moins de 12 mois.",
    ),
    Step(
        "demandes",
        "Demandes en cours",
        "demandes_en_cours",
        (
            Group(
                "",
                "Demande",
                (
                    Field("type", "Droit demandé (nomenclature TRE_R420)", CHOICE, RIGHT_TYPES),
                    _date("date_depot", "Date de dépôt"),
                    Field("etape", "Étape de l'instruction", CHOICE, ETAPES),
                    _date("date_certificat_medical", "Date du certificat médical"),
                ),
            ),
        ),
        item="Demande",
        intro="Les demandes déposées et pas encore décidées. Laissez vide s'il n'y en a pas.",
    ),
    Step(
        "pieces",
        "Pièces jointes",
        "pieces",
        (
            Group(
                "",
                "Pièce",
                (
                    Field("type_piece", "Type de pièce", CHOICE, TYPES_PIECE),
                    _date("date", "Date de la pièce"),
                    Field(
                        "medical",
                        "Pièce médicale (réservée aux médecins de la MDPH d'accueil)",
                        BOOLEAN,
                    ),
                ),
            ),
        ),
        item="Pièce",
        intro="Déclarez chaque pièce, puis joignez son fichier (PDF, JPEG ou PNG).",
    ),
)
STEP_BY_SLUG = {step.slug: step for step in STEPS}
PREVIEW = "apercu"
FILE_FIELD = "fichier"  # `pieces[0].fichier`: the document's file, beside what declares it
LISTS = tuple(step.section for step in STEPS if step.is_list)
# Parts of an imported dossier the form does not edit; kept as they are in the draft.
PASSED_THROUGH = ("version_format", "aides_extra_legales", "evaluation_medicale")


Leaf = tuple[str, Field, tuple[When, ...]]


def _leaves(
    group: Group, prefix: str, counts: Mapping[str, int], whens: tuple[When, ...] = ()
) -> Iterator[Leaf]:
    """Each field of a group with its full path and the conditions it is shown under."""
    base = f"{prefix}.{group.name}" if group.name else prefix
    whens += (group.when,) if group.when else ()
    bases = [f"{base}[{i}]" for i in range(counts.get(base, 0))] if group.item else [base]
    for at in bases:
        for item in group.fields:
            if isinstance(item, Group):
                yield from _leaves(item, at, counts, whens)
            else:
                own = whens + ((item.when,) if item.when else ())
                yield (f"{at}.{item.name}" if at else item.name), item, own


def _repeated(group: Group, prefix: str) -> Iterator[str]:
    """The path of each list held inside an item (a PCH's payments), without its index."""
    base = f"{prefix}.{group.name}" if group.name else prefix
    if group.item:
        yield base
        return
    for item in group.fields:
        if isinstance(item, Group):
            yield from _repeated(item, base)


def item_prefix(step: Step, index: int | None = None) -> str:
    """Path of a step's section, or of one item of a list step."""
    return f"{step.section}[{index}]" if step.is_list else step.section


def _prefixes(step: Step, counts: Mapping[str, int]) -> list[str]:
    if step.is_list:
        return [item_prefix(step, i) for i in range(counts.get(step.section, 0))]
    return [step.section]


def _step_leaves(step: Step, counts: Mapping[str, int]) -> Iterator[tuple[str, Leaf]]:
    """Each field of the step with the item it belongs to."""
    for prefix in _prefixes(step, counts):
        for group in step.groups:
            for leaf in _leaves(group, prefix, counts):
                yield prefix, leaf


def step_fields(step: Step, counts: Mapping[str, int]) -> list[tuple[str, Field]]:
    """Every field the step shows, with its path, for each of its items."""
    return [(path, spec) for _, (path, spec, _) in _step_leaves(step, counts)]


def inner_lists(step: Step, counts: Mapping[str, int]) -> list[str]:
    """The lists held inside the step's items (`droits[0].pch.versements`), without index."""
    return [
        path
        for prefix in _prefixes(step, counts)
        for group in step.groups
        for path in _repeated(group, prefix)
    ]


def layout(step: Step, counts: Mapping[str, int]) -> str:
    """How many items each list of the step has, as the page was drawn with them.

    A page sent back with another layout was drawn before an item was added or removed (an
    autosave that arrives after the button): its values belong to other indexes.
    """
    lists = ([step.section] if step.is_list else []) + inner_lists(step, counts)
    return ";".join(f"{path}={counts.get(path, 0)}" for path in lists)


def _holds(when: When, item: str, entries: Mapping[str, str]) -> bool:
    """Tell whether a part fits its item: the field it follows says so, or is not chosen yet."""
    chosen = entries.get(f"{item}.{when.field}", "").strip()
    return not chosen or chosen in when.values


def ignored(step: Step, typed: Typed) -> set[str]:
    """The fields typed in that do not fit their item (left out of the dossier, said so)."""
    return {
        path
        for item, (path, _, whens) in _step_leaves(step, typed.counts)
        if typed.entries.get(path, "").strip()
        and not all(_holds(when, item, typed.entries) for when in whens)
    }


@dataclass
class Typed:
    """What a caseworker typed, as text by field path, and how many items each list has."""

    entries: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    kept: dict[str, Any] = field(default_factory=dict)  # parts passed through from an import


def take_step(typed: Typed, step: Step, form: Mapping[str, str]) -> None:
    """Replace the step's typed values with those of its form (an unticked box is sent as none)."""
    for path, spec in step_fields(step, typed.counts):
        if spec.kind == BOOLEAN:
            typed.entries[path] = "oui" if form.get(path) else ""
        elif path in form:
            typed.entries[path] = form[path]


def add_item(typed: Typed, path: str) -> int:
    """Add an empty item to a list (a step's `droits`, or `droits[0].pch.versements`)."""
    index = typed.counts.get(path, 0)
    typed.counts[path] = index + 1
    return index


def _shifted(values: Mapping[str, Any], path: str, index: int) -> dict[str, Any]:
    """Values by path with item `index` of the list at `path` gone, the later ones moved up."""
    moved: dict[str, Any] = {}
    pattern = re.compile(rf"{re.escape(path)}\[(\d+)\](.*)")
    for key, value in values.items():
        match = pattern.fullmatch(key)
        if match is None:
            moved[key] = value
        elif (n := int(match.group(1))) != index:
            moved[f"{path}[{n - 1 if n > index else n}]{match.group(2)}"] = value
    return moved


def remove_item(typed: Typed, path: str, index: int) -> None:
    """Remove one item of a list, moving the later ones up (with the lists they hold)."""
    count = typed.counts.get(path, 0)
    if not 0 <= index < count:
        return
    typed.entries = _shifted(typed.entries, path, index)
    typed.counts = _shifted(typed.counts, path, index)
    typed.counts[path] = count - 1


# From typed text to the wire format


def french_to_iso(text: str) -> str | None:
    """Read a date typed JJ/MM/AAAA; None if it is not one."""
    match = _FRENCH_DATE.fullmatch(text)
    if match is None:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def iso_to_french(text: str) -> str:
    """Write a wire date (AAAA-MM-JJ) the way it is typed in the form."""
    try:
        return date.fromisoformat(text).strftime("%d/%m/%Y")
    except (TypeError, ValueError):
        return str(text)


def _number(text: str, whole: bool) -> int | float | None:
    cleaned = text.strip().replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    if whole:
        return int(value) if value.is_integer() else None
    return int(value) if value.is_integer() else value


Missing = object()


def convert(spec: Field, text: str) -> tuple[Any, str | None]:
    """The wire value of a typed field (or `Missing`), and the problem code if it is unreadable."""
    if spec.kind == BOOLEAN:
        return bool(text), None
    text = text.strip()
    if not text:
        return (None if spec.nullable else Missing), None
    if spec.kind == DATE:
        iso = french_to_iso(text)
        return (iso, None) if iso else (Missing, "formulaire.date")
    if spec.kind in (NUMBER, INTEGER):
        number = _number(text, spec.kind == INTEGER)
        if number is None:
            return Missing, "formulaire.entier" if spec.kind == INTEGER else "formulaire.nombre"
        return number, None
    if spec.kind == NAMES:
        return [name.strip() for name in text.split(",") if name.strip()], None
    return text, None


Problems = list[tuple[str, str]]


def _left_out(spec: Field | Group) -> Any:
    """What the dossier says for a part that does not fit its item (Missing: nothing)."""
    if isinstance(spec, Group):
        return [] if spec.item else None
    if spec.kind == BOOLEAN:
        return False
    return None if spec.nullable else Missing


def _build_fields(
    group: Group, at: str, typed: Typed, problems: Problems, item: str
) -> tuple[dict[str, Any], bool]:
    """The object of a group's fields at `at`, and whether nothing was typed in them."""
    data: dict[str, Any] = {}
    empty = True
    for spec in group.fields:
        if spec.when and not _holds(spec.when, item, typed.entries):
            if (value := _left_out(spec)) is not Missing:
                data[spec.name] = value
            continue
        if isinstance(spec, Group):
            built, blank = _build_group(spec, at, typed, problems, item)
            if spec.name:
                data[spec.name] = built
            else:
                data.update(built)
            empty = empty and blank
            continue
        path = f"{at}.{spec.name}"
        text = typed.entries.get(path, "")
        empty = empty and not text.strip()
        value, code = convert(spec, text)
        if code:
            problems.append((path, code))
        if value is not Missing:
            data[spec.name] = value
    return data, empty


def _build_group(
    group: Group, prefix: str, typed: Typed, problems: Problems, item: str
) -> tuple[Any, bool]:
    """A group's object (None for an optional one left empty) or list, and whether it was empty."""
    base = f"{prefix}.{group.name}" if group.name else prefix
    if group.item:
        count = typed.counts.get(base, 0)
        return [
            _build_fields(group, f"{base}[{i}]", typed, problems, item)[0] for i in range(count)
        ], count == 0
    data, empty = _build_fields(group, base, typed, problems, item)
    return (None if group.nullable and empty else data), empty


def _build_item(step: Step, prefix: str, typed: Typed, problems: Problems) -> dict[str, Any]:
    return _build_fields(Group("", step.title, step.groups), prefix, typed, problems, prefix)[0]


def compose(
    typed: Typed, origin: str, files: Mapping[int, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The JSON v1 dossier of what was typed, and the (path, code) of text that could not be read.

    `files` gives each document's attached file (name and SHA-256) by its index.
    """
    problems: list[tuple[str, str]] = []
    dossier: dict[str, Any] = {"version_format": FORMAT_VERSION}
    for step in STEPS:
        if not step.is_list:
            dossier[step.section] = _build_item(step, step.section, typed, problems)
            continue
        items = []
        for index in range(typed.counts.get(step.section, 0)):
            items.append(_build_item(step, item_prefix(step, index), typed, problems))
        dossier[step.section] = items
    dossier["transfert"]["mdph_origine"] = origin
    for right in dossier["droits"]:
        if right.get("type") in ALL_TYPES:
            right["categorie"] = category_of(right["type"])
    for index, piece in enumerate(dossier["pieces"]):
        attached = files.get(index)
        if attached is None:
            problems.append((f"pieces[{index}].{FILE_FIELD}", "formulaire.fichier_absent"))
        else:
            piece["nom_fichier"] = attached["nom_fichier"]
            piece["sha256"] = attached["sha256"]
    for key, value in typed.kept.items():
        dossier[key] = value
    return dossier, problems


# From the wire format to typed text (a dossier imported from a file)


def _typed_value(spec: Field, value: Any) -> str:
    if spec.kind == BOOLEAN:
        return "oui" if value is True else ""
    if value is None:
        return ""
    if spec.kind == DATE:
        return iso_to_french(value)
    if spec.kind == NAMES and isinstance(value, list):
        return ", ".join(str(name) for name in value)
    if spec.kind in (NUMBER, INTEGER) and isinstance(value, int | float):
        return str(value).replace(".", ",")
    return str(value)


def _dig(data: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            data = data[index] if isinstance(data, list) and index < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def typed_from(dossier: Mapping[str, Any]) -> Typed:
    """What the form shows for a dossier read from a JSON file (to correct it, or send it)."""
    typed = Typed()
    for section in LISTS:
        items = dossier.get(section)
        typed.counts[section] = len(items) if isinstance(items, list) else 0
    for step in STEPS:
        for inner in inner_lists(step, typed.counts):
            items = _dig(dossier, inner)
            typed.counts[inner] = len(items) if isinstance(items, list) else 0
        for path, spec in step_fields(step, typed.counts):
            typed.entries[path] = _typed_value(spec, _dig(dossier, path))
    typed.kept = {key: dossier[key] for key in PASSED_THROUGH if dossier.get(key) is not None}
    return typed


def attached_files(dossier: Mapping[str, Any]) -> dict[int, str]:
    """The file name each document of an imported dossier declares, by index."""
    pieces = dossier.get("pieces")
    if not isinstance(pieces, list):
        return {}
    return {
        index: str(piece["nom_fichier"])
        for index, piece in enumerate(pieces)
        if isinstance(piece, dict) and isinstance(piece.get("nom_fichier"), str)
    }


def step_of(path: str) -> str:
    """The slug of the step a problem's path belongs to (the preview for the others)."""
    section = re.split(r"[.\[]", path, maxsplit=1)[0]
    for step in STEPS:
        if step.section == section:
            return step.slug
    return PREVIEW


def shown_at(path: str) -> str:
    """The form's path for a problem's path: a document's name and digest are its file."""
    path = path.removesuffix("._schema")
    if re.fullmatch(r"pieces\[\d+\]\.(nom_fichier|sha256)", path):
        return path.rsplit(".", 1)[0] + "." + FILE_FIELD
    if re.fullmatch(r"droits\[\d+\]\.categorie", path):
        return path.rsplit(".", 1)[0] + ".type"
    return path


def field_of(path: str, known: set[str]) -> str:
    """The form field a problem's path is shown next to, or the item it concerns, or ""."""
    path = shown_at(path)
    while path:
        if path in known:
            return path
        if _INDEX.search(path) and (bare := _INDEX.sub("", path)) in known:
            return bare
        if re.fullmatch(r"[a-z_]+\[\d+\]", path):
            return path  # the item as a whole
        path = path.rsplit(".", 1)[0] if "." in path else ""
    return ""
