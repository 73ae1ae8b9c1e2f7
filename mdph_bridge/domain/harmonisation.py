"""Map each right of a dossier onto the destination's rules: one outcome each, no gap in rights.

The mapping report says, for every right, what happens after the move (docs/DOMAIN.md §8): it
continues unchanged, continues with a change of payer, needs the receiving MDPH to act, ends because
it is the origin's own aid, or had already ended. Rights are never shortened: every outcome but
`echu` and `non_transferable` keeps the CDAPH decision's end date, and names who pays on every day
from the move to that end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from mdph_bridge.domain.dates import add_months, add_years, french_date
from mdph_bridge.domain.identifiers import departement_of_finess
from mdph_bridge.domain.payers import (
    DEPARTEMENT_RIGHTS,
    ONE_DAY,
    Sides,
    euros,
    payer_periods,
    pch_amounts,
)
from mdph_bridge.domain.places import Place, of_right
from mdph_bridge.domain.residence import (
    BORDER,
    ESTABLISHMENT,
    HOSPITAL,
    PLACE_LABELS,
    comes_of_age_on,
    domicile_date,
    kept_because,
    parents_acquire_on,
    place_of_life,
)
from mdph_bridge.domain.rights import (
    AAH,
    AEEH,
    AEEH_COMPLEMENTS,
    AEEH_END_AGE,
    PCH_HOUSING,
    PCH_HUMAN_HELP,
    PCH_ONE_OFF,
    category_of,
    label,
)
from mdph_bridge.domain.rulesets import (
    ENDS_ON_MOVE,
    DepartementRules,
    ExtraLegalAid,
    NationalRules,
    RuleBook,
    Sourced,
)

REPORT_VERSION = 1
MAINTAINED = "maintenu"
PAYER_SWITCH = "maintenu_changement_payeur"
TO_ACT_ON = "a_instruire"
NOT_TRANSFERABLE = "non_transferable"
ENDED = "echu"
OUTCOMES = (MAINTAINED, PAYER_SWITCH, TO_ACT_ON, NOT_TRANSFERABLE, ENDED)

RENEWAL_NOTICE_MONTHS = 6  # rights ending this soon after the move: renewal to plan
RENEWAL_LEAD_MONTHS = 4  # a CDAPH has 4 months to decide (R241-33): ask at least that early
IMPLICIT_REJECTION_MONTHS = 4  # R241-33: 4 months of silence are a rejection
ESTABLISHMENT_ORIENTATIONS = frozenset({"7", "11", "13"})
SCHOOL_RIGHTS = frozenset({"8", "9", "10"})
SUMMER_MONTHS = (7, 8)  # a school orientation can wait for the September term
PAYMENT_LABELS = {"cesu": "CESU", "virement": "virement"}
PCH_ELEMENT_NOTES = {
    "5.2": "Aides techniques : vérifier ce qui a déjà été utilisé du plafond sur 10 ans.",
}
MAS = "13.3"
PCH_STAY_DAYS = 45  # CASF D245-74: human help reduced to 10 % after 45 consecutive days
PCH_STAY_DAYS_DISMISSAL = 60  # D245-74: 60 days when the stay forces the person to dismiss helpers
AAH_STAY_DAYS = 60  # CSS R821-8 I: AAH cut to 30 % after 60 full days in hospital or a MAS

# Alert codes, stable (docs/HARMONISATION.md), with the label the hub keeps (no personal data).
ALERT_LABELS = {
    "renouvellement": "Droit arrivant à échéance : renouvellement à engager",
    "bascule_payeur": "Changement de payeur : versement à mettre en place",
    "versement_a_ajuster": "Versements à ajuster entre les deux départements",
    "orientation_place": "Orientation : place à trouver dans le nouveau territoire",
    "etablissement_autre_departement": (
        "Orientation vers un établissement d'un autre département : valable, à vérifier"
    ),
    "scolarite": "Décision à transmettre à la DSDEN",
    "demande_en_cours": "Demande en cours à reprendre",
    "rejet_implicite": "Demande sans décision depuis plus de 4 mois (rejet implicite)",
    "certificat_medical": "Certificat médical à renouveler",
    "aide_equivalente": "Aide extra-légale équivalente à ouvrir",
    "passage_adulte": "Passage à 20 ans : demande d'AAH et droits d'adulte à déposer",
    "nouvelle_demande": "Droit échu peu avant le déménagement : nouvelle demande à proposer",
    "versement_ponctuel": "Élément de PCH versé en une fois : ne pas le verser deux fois",
    "logement_nouvelle_adresse": "Aménagement du logement : nouvelle demande à la nouvelle adresse",
    "reduction_etablissement": "Séjour en établissement ou à l'hôpital : réduction à vérifier",
}
ALERT_CODES = tuple(ALERT_LABELS)


def fr(day: date | None) -> str:
    """A date as French agents write it, 02/02/2027."""
    return "sans limitation de durée" if day is None else french_date(day)


@dataclass(frozen=True)
class Move:
    """What the mapping needs to know about the move and the rules in force."""

    sides: Sides
    moved_on: date
    national: NationalRules
    origin_rules: DepartementRules | None
    destination_rules: DepartementRules | None
    lives: str = "domicile"  # place of life (residence.PLACES_OF_LIFE)
    kept_because: str | None = None  # why the domicile de secours stays in the origin
    birth: date | None = None
    protection: str | None = None  # "tuteur" or "curateur" when a judgement protects the person
    comes_of_age_on: date | None = None  # 18th birthday before the parents' DS moves
    parents_acquire_on: date | None = None  # when the family's DS moves (move + 3 months)

    @property
    def origin(self) -> Place:
        """The sending département."""
        return self.sides.origin

    @property
    def destination(self) -> Place:
        """The receiving département."""
        return self.sides.destination

    @property
    def domicile_on(self) -> date | None:
        """When the domicile de secours passes to the destination (None: it does not)."""
        return self.sides.domicile_on


def _protection(dossier: dict[str, Any]) -> str | None:
    """The judgement-given representative to whom a PCH may be paid: tuteur first, curateur."""
    qualities = {r.get("qualite") for r in dossier.get("representants_legaux", [])}
    return next((q for q in ("tuteur", "curateur") if q in qualities), None)


def _move(dossier: dict[str, Any], book: RuleBook, destination: str | None) -> Move:
    transfert = dossier["transfert"]
    moved_on = transfert["date_demenagement"]
    origin_code = transfert["mdph_origine"]
    dest_code = destination or transfert["mdph_destination"]
    domicile_on = domicile_date(dossier)
    switch_day = domicile_on or moved_on
    origin_rules = book.departement_at(origin_code, moved_on)
    dest_rules = book.departement_at(dest_code, switch_day)
    places = book.named_places
    sides = Sides(
        origin=places.get(origin_code, Place(origin_code)),
        destination=places.get(dest_code, Place(dest_code)),
        domicile_on=domicile_on,
        places=places,
        same_home=transfert["motif"] == BORDER,
    )
    return Move(
        sides,
        moved_on,
        book.national_at(switch_day),
        origin_rules,
        dest_rules,
        lives=place_of_life(dossier["beneficiaire"]),
        kept_because=kept_because(dossier),
        birth=dossier["beneficiaire"].get("date_naissance"),
        protection=_protection(dossier),
        comes_of_age_on=comes_of_age_on(dossier),
        parents_acquire_on=parents_acquire_on(dossier),
    )


def harmonise(
    dossier: dict[str, Any], book: RuleBook, destination: str | None = None
) -> dict[str, Any]:
    """Build the mapping report of a dossier loaded by `DossierSchema` (JSON-ready)."""
    move = _move(dossier, book, destination)
    rights, aids, alerts = [], [], []
    for index, right in enumerate(dossier["droits"]):
        outcome, found = map_right(right, move)
        rights.append(outcome)
        alerts += [{**alert, "chemin": f"droits[{index}]"} for alert in found]
    for index, aid in enumerate(dossier.get("aides_extra_legales", [])):
        outcome, found = map_aid(aid, move)
        aids.append(outcome)
        alerts += [{**alert, "chemin": f"aides_extra_legales[{index}]"} for alert in found]
    alerts += _aah_reductions(dossier["droits"], move)
    alerts += request_alerts(dossier["demandes_en_cours"], move)
    alerts.sort(key=lambda a: (a["date_limite"], a["code"]))  # then in the dossier's order
    competent = competent_mdph(move)
    return {
        "version_rapport": REPORT_VERSION,
        "mdph_origine": move.origin.code,
        "mdph_destination": move.destination.code,
        "date_demenagement": move.moved_on.isoformat(),
        "sans_demenagement": move.kept_because == BORDER,
        "lieu_de_vie": move.lives,
        "domicile_secours_acquis_le": move.domicile_on and move.domicile_on.isoformat(),
        "mdph_competente": competent.code,
        "observations": observations(move, competent),
        "versions_regles": versions(move),
        "informations_accueil": receiving_side(move.destination_rules),
        "droits": rights,
        "aides_extra_legales": aids,
        "alertes": alerts,
        "resultats": counts(rights + aids),
    }


def competent_mdph(move: Move) -> Place:
    """The MDPH of the domicile de secours decides (CASF L146-3): the origin while it stays."""
    return move.destination if move.domicile_on is not None else move.origin


def observations(move: Move, competent: Place) -> list[str]:
    """What the receiving MDPH must know about the move as a whole, in plain French."""
    notes = []
    if move.kept_because == BORDER:
        notes.append(
            f"Pas de déménagement : le dossier est partagé avec la MDPH {move.destination.of()} "
            "pour une orientation ou une admission de l'autre côté de la frontière. Le domicile "
            "de secours et les payeurs ne changent pas."
        )
    elif move.domicile_on is None:
        notes.append(
            f"La personne vit {PLACE_LABELS[move.lives]} : elle n'y acquiert pas de domicile de "
            f"secours (CASF L122-2), qui reste {move.origin.in_()}."
        )
    notes += _coming_of_age(move)
    if move.domicile_on is None:
        notes.append(
            f"La MDPH compétente pour les décisions reste celle {move.origin.of()}, "
            "département du domicile de secours, le lieu de vie ne faisant pas acquérir de "
            "domicile de secours (CASF L146-3) ; elle peut, par convention, confier "
            f"l'évaluation à la MDPH {move.destination.of()}."
        )
    if move.destination_rules is None:
        notes.append(
            f"Aucune règle propre {move.destination.of()} n'est encore connue du hub : les "
            "règles et tarifs nationaux sont appliqués."
        )
    return notes


def _coming_of_age(move: Move) -> list[str]:
    """A minor who turns 18 before the family's DS moves has a DS of their own from then."""
    majority, parents = move.comes_of_age_on, move.parents_acquire_on
    if majority is None or parents is None or move.kept_because == BORDER:
        return []
    before = (
        f"La personne devient majeure le {fr(majority)}, avant que sa famille n'acquière le "
        f"domicile de secours {move.destination.in_()} (le {fr(parents)}) : elle garde celui "
        f"qu'elle avait à sa majorité, {move.origin.in_()}"
    )
    if move.domicile_on is None:
        return [
            f"{before}, et n'en acquiert pas de nouveau tant qu'elle vit "
            f"{PLACE_LABELS[move.lives]} (CASF L122-2 al. 1 et 2, L122-3)."
        ]
    return [
        f"{before}, puis en acquiert un {move.destination.in_()} après trois mois de résidence "
        f"depuis sa majorité, le {fr(move.domicile_on)} (CASF L122-2 al. 1 et 2)."
    ]


def receiving_side(rules: DepartementRules | None) -> dict[str, Any] | None:
    """The destination's local procedures and contact point, for the report's readers."""
    if rules is None:
        return None
    values: dict[str, Sourced[Any]] = {
        "mode_versement_pch": rules.payment_mode,
        "certificat_age_max_mois": rules.certificate_max_months,
        "pch_urgence_delai_jours": rules.urgent_pch_days,
    }
    return {
        **{name: value.value for name, value in values.items()},
        "valeurs_a_confirmer": sorted(name for name, value in values.items() if value.to_confirm),
        "contact": {
            "service": rules.contact.service,
            "courriel": rules.contact.email,
            "telephone": rules.contact.phone,
            "a_confirmer": rules.contact.to_confirm,
        },
    }


def versions(move: Move) -> list[str]:
    """The rule-set versions the report used, e.g. ["national@2024-06-01", "62@2022-01-01"]."""
    used = [move.national, move.origin_rules, move.destination_rules]
    return [rules.version for rules in used if rules is not None]


def counts(outcomes: list[dict[str, Any]]) -> dict[str, int]:
    """How many rights and aids got each outcome (every outcome listed, zeros included)."""
    found = Counter(o["resultat"] for o in outcomes)
    return {outcome: found[outcome] for outcome in OUTCOMES}


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the hub keeps for both sides: counts, dated alerts by code, payer switch.

    No personal data: an alert is named by its code and position in the dossier, never by the
    right's nature or the sender's identifiant; the messages stay in the encrypted report.
    """
    switches = [p["du"] for right in report["droits"] for p in right["payeurs"][1:]]
    return {
        "version_rapport": report["version_rapport"],
        "versions_regles": report["versions_regles"],
        "resultats": report["resultats"],
        "bascule_payeur": min(switches, default=None),
        "alertes": [
            {
                "code": alert["code"],
                "chemin": alert["chemin"],
                "date_limite": alert["date_limite"],
                "libelle": ALERT_LABELS[alert["code"]],
            }
            for alert in report["alertes"]
        ],
    }


def _alert(code: str, reference: str, deadline: date, message: str) -> dict[str, str]:
    return {
        "code": code,
        "reference": reference,
        "date_limite": deadline.isoformat(),
        "message": message,
    }


def map_right(right: dict[str, Any], move: Move) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Give one CDAPH right its outcome, payers, reasons and alerts."""
    type_ = right["type"]
    end = right["date_echeance"]
    outcome: dict[str, Any] = {
        "identifiant": right["identifiant"],
        "type": type_,
        "libelle": label(type_),
        "valable_jusquau": end and end.isoformat(),
        "sans_limitation_duree": right["sans_limitation_duree"],
    }
    if right["statut"] == "echu" or (end is not None and end < move.moved_on):
        reason = f"Droit échu le {fr(end)}, avant le déménagement : signalé, non repris."
        return {**outcome, "resultat": ENDED, "payeurs": [], "motifs": [reason]}, _lapsed(
            right, move
        )

    start = max(move.moved_on, right["date_ouverture"])
    payers = payer_periods(right, move.sides, start, end)
    category = category_of(type_)
    reasons = [_continues(end)]
    if type_ in PCH_ONE_OFF:
        result = _one_off(right, payers, move, reasons)
    elif category in DEPARTEMENT_RIGHTS:
        result = PAYER_SWITCH
        reasons.append(_domicile_reason(payers, move))
    elif category in ESTABLISHMENT_ORIENTATIONS:
        result = _establishment(right, move, reasons)
    elif category in SCHOOL_RIGHTS:
        result = TO_ACT_ON
        reasons.append(
            f"À transmettre à la DSDEN {move.destination.of()} avant le "
            f"{fr(school_deadline(move.moved_on))}, pour la scolarité."
        )
    else:
        result = MAINTAINED
    reasons += _notes(right, payers)
    outcome = {**outcome, "resultat": result, "payeurs": payers, "motifs": reasons}
    if type_ in PCH_HUMAN_HELP and right["pch"] and _destination_pays(payers, move):
        outcome["recalcul_pch"] = pch_amounts(
            right["pch"],
            move.national,
            move.origin_rules,
            move.destination_rules,
            move.sides,
            payers[-1]["du"],
        )
    return outcome, right_alerts(right, payers, move)


def _destination_pays(payers: list[dict[str, Any]], move: Move) -> bool:
    last = payers[-1]["payeur"]
    return bool(last["organisme"] == "departement" and last["departement"] == move.destination.code)


def _continues(end: date | None) -> str:
    if end is None:
        return "La décision de la CDAPH reste valable sans limitation de durée."
    return f"La décision de la CDAPH reste valable jusqu'au {fr(end)}."


def _paid_by(payers: list[dict[str, Any]]) -> str:
    if len(payers) == 1:
        return f"Payeur : {payers[0]['payeur']['libelle']}."
    parts = [
        f"{p['payeur']['libelle']} du {fr(date.fromisoformat(p['du']))}"
        + (f" au {fr(date.fromisoformat(p['au']))}" if p["au"] else "")
        for p in payers
    ]
    return "Payeurs : " + ", puis ".join(parts) + "."


def _domicile_reason(payers: list[dict[str, Any]], move: Move) -> str:
    """Why the département paying a PCH or an ACTP changes, or does not (CASF L122-2, L245-2)."""
    first = payers[0]["payeur"]["libelle"]
    if len(payers) == 2:
        last_day = date.fromisoformat(payers[0]["au"])
        return (
            f"{first[0].upper()}{first[1:]} verse jusqu'au {fr(last_day)}, veille de l'acquisition "
            f"du domicile de secours ; {move.destination.council()} verse à partir du "
            f"{fr(last_day + ONE_DAY)}."
        )
    if move.domicile_on is None:
        why = (
            "Pas de déménagement"
            if move.kept_because == BORDER
            else f"La personne vit {PLACE_LABELS[move.lives]}"
        )
        return (
            f"{why} : le domicile de secours ne change pas, {first} continue de verser jusqu'à "
            "la fin du droit."
        )
    return f"Payeur jusqu'à la fin du droit : {first}."


def _one_off(
    right: dict[str, Any], payers: list[dict[str, Any]], move: Move, reasons: list[str]
) -> str:
    """PCH elements paid once on invoice: what was paid stays paid, later invoices follow the DS."""
    block = right["pch"] or {}
    paid = block.get("versements", [])
    for payment in paid:
        payer = move.sides.place(payment["payeur_departement"]).council()
        reasons.append(
            f"Déjà versé : {euros(Decimal(str(payment['montant'])))} le "
            f"{fr(payment['date_versement'])} par {payer}."
        )
    remaining = _remaining(block)
    if remaining is not None and remaining <= 0:
        reasons.append("Montant attribué entièrement versé : rien ne reste à verser.")
        return MAINTAINED
    reasons.append(
        "Aide versée en une fois, sur facture : une facture est payée par le département du "
        "domicile de secours à sa date"
        + (f", dans la limite des {euros(remaining)} restants." if remaining is not None else ".")
    )
    if right["type"] in PCH_HOUSING:
        reasons.append(
            "Les travaux décidés pour l'ancien logement ne financent pas le nouveau : une "
            "nouvelle demande est nécessaire pour la nouvelle adresse."
        )
        return TO_ACT_ON
    return PAYER_SWITCH


def _paid(payments: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(p["montant"])) for p in payments), Decimal(0))


def _remaining(block: dict[str, Any]) -> Decimal | None:
    """What is left to pay of a one-off element (None: the amount granted is not given)."""
    granted = block.get("montant_attribue")
    return None if granted is None else Decimal(str(granted)) - _paid(block.get("versements", []))


def _notes(right: dict[str, Any], payers: list[dict[str, Any]]) -> list[str]:
    notes = [] if category_of(right["type"]) in DEPARTEMENT_RIGHTS else [_paid_by(payers)]
    if right["type"] in PCH_ELEMENT_NOTES:
        notes.append(PCH_ELEMENT_NOTES[right["type"]])
    if right["type"] in AEEH_COMPLEMENTS:
        notes.append(
            "Option entre complément d'AEEH et PCH : le choix de la famille est transmis avec "
            "le dossier."
        )
    if right["statut"] == "suspendu":
        notes.append("Droit suspendu par la MDPH d'origine : la suspension est transmise.")
    if right["creton"]:
        notes.append("Maintien au-delà de 20 ans au titre de l'amendement Creton.")
    return notes


def _establishment(right: dict[str, Any], move: Move, reasons: list[str]) -> str:
    """An orientation stays valid; without a named establishment, a place is needed nearby."""
    finess = right["etablissement_finess"]
    where = departement_of_finess(finess) if finess else None
    if where is None:
        reasons.append(
            "Une place doit être trouvée dans le nouveau territoire (ViaTrajectoire) ; "
            "en attendant, l'orientation reste valable."
        )
        return TO_ACT_ON
    place = move.sides.place(where)
    if where == move.destination.code and move.sides.same_home:
        reasons.append(
            f"L'établissement désigné (FINESS {finess}) est situé {place.in_()} : la personne y "
            "est orientée sans déménager ; l'admission s'instruit avec la MDPH de ce département."
        )
    elif where == move.destination.code:
        reasons.append(
            f"L'établissement désigné (FINESS {finess}) est situé {place.in_()} : "
            "la place est déjà dans le nouveau territoire."
        )
    else:
        reasons.append(
            f"L'établissement désigné (FINESS {finess}) est situé {place.in_()} : "
            "l'orientation reste valable et l'accueil peut s'y poursuivre ; à vérifier avec la "
            "personne ou sa famille."
        )
    return MAINTAINED


def school_deadline(moved_on: date) -> date:
    """A school orientation must reach the new DSDEN before the pupil's next term starts."""
    return date(moved_on.year, 9, 1) if moved_on.month in SUMMER_MONTHS else moved_on


def right_alerts(
    right: dict[str, Any], payers: list[dict[str, Any]], move: Move
) -> list[dict[str, str]]:
    """What the receiving MDPH must do for this right, and by when."""
    name, ref = label(right["type"]), right["identifiant"]
    category = category_of(right["type"])
    alerts = []
    if right["type"] in PCH_ONE_OFF:
        alerts += _one_off_alerts(right, payers, move, name)
    elif len(payers) == 2 and right["statut"] != "suspendu":
        switch = date.fromisoformat(payers[1]["du"])
        mode = move.destination_rules and move.destination_rules.payment_mode.value
        how = f" par {PAYMENT_LABELS[mode]}" if mode else ""
        alerts.append(
            _alert(
                "bascule_payeur",
                ref,
                switch,
                f"{name} : {move.destination.council()} devient payeur le {fr(switch)} ; "
                f"mettre en place le versement{how} avant cette date." + _representative(move),
            )
        )
        alerts += _paid_until(right, payers, move)
    alerts += _stay_reductions(right, move, name)
    if category in ESTABLISHMENT_ORIENTATIONS:
        alerts += _establishment_alerts(right, move, name)
    if category in SCHOOL_RIGHTS:
        deadline = school_deadline(move.moved_on)
        message = (
            f"{name} : transmettre la décision à la DSDEN {move.destination.of()} avant le "
            f"{fr(deadline)}."
        )
        alerts.append(_alert("scolarite", ref, deadline, message))
    return alerts + _renewal(right, move, name)


def _representative(move: Move) -> str:
    """To whom the new payer pays when a judgement protects the person."""
    if move.protection == "tuteur":
        return (
            " La personne est sous tutelle : la PCH est versée au tuteur désigné par le jugement."
        )
    if move.protection == "curateur":
        return (
            " La personne est sous curatelle : en curatelle renforcée, la PCH est versée au "
            "curateur ; vérifier le jugement."
        )
    return ""


def _one_off_alerts(
    right: dict[str, Any], payers: list[dict[str, Any]], move: Move, name: str
) -> list[dict[str, str]]:
    """A lump sum already paid must not be paid again; housing works need a new request."""
    found = []
    if right["type"] in PCH_HOUSING:
        found.append(
            _alert(
                "logement_nouvelle_adresse",
                right["identifiant"],
                move.moved_on,
                f"{name} : les travaux décidés pour l'ancien logement ne financent pas le "
                "nouveau ; proposer une nouvelle demande pour la nouvelle adresse. Les frais de "
                "déménagement et d'installation des équipements peuvent relever de l'élément 3 de "
                "la PCH si l'ancien logement ne pouvait pas être aménagé (ou à un coût jugé trop "
                "élevé par l'équipe pluridisciplinaire) et que le nouveau est accessible "
                "(CASF D245-14).",
            )
        )
    remaining = _remaining(right["pch"] or {})
    fully_paid = remaining is not None and remaining <= 0
    if len(payers) == 2 and right["statut"] != "suspendu" and not fully_paid:
        switch = date.fromisoformat(payers[1]["du"])
        paid = (right["pch"] or {}).get("versements", [])
        already = f" Déjà versé : {euros(_paid(paid))}, à ne pas verser de nouveau." if paid else ""
        found.append(
            _alert(
                "versement_ponctuel",
                right["identifiant"],
                switch,
                f"{name} : aide versée en une fois sur facture ; une facture datée du "
                f"{fr(switch)} ou après est payée par {move.destination.council()}, une facture "
                f"antérieure par {payers[0]['payeur']['libelle']}.{already}",
            )
        )
    return found


def _stay_reductions(right: dict[str, Any], move: Move, name: str) -> list[dict[str, str]]:
    """Entering an establishment or a hospital reduces PCH human help and AAH after a while."""
    if move.lives not in (HOSPITAL, ESTABLISHMENT):
        return []
    if right["type"] in PCH_HUMAN_HELP:
        message = (
            f"{name} : la personne vit {PLACE_LABELS[move.lives]} ; au-delà de {PCH_STAY_DAYS} "
            f"jours consécutifs de séjour ({PCH_STAY_DAYS_DISMISSAL} si elle a dû licencier ses "
            "aides à domicile), l'aide humaine versée est réduite à 10 % de son montant, entre "
            "un minimum et un maximum fixés par arrêté, et rétablie pendant les interruptions "
            "du séjour (CASF D245-74) : vérifier la date d'entrée et le montant versé."
        )
        return [_alert("reduction_etablissement", right["identifiant"], move.moved_on, message)]
    return []


def _aah_reductions(dossier_rights: list[dict[str, Any]], move: Move) -> list[dict[str, str]]:
    """AAH is reduced after 60 days in a MAS or a hospital (CSS R821-8)."""
    in_mas = any(r["type"] == MAS and r["statut"] == "actif" for r in dossier_rights)
    if not (move.lives == HOSPITAL or (move.lives == ESTABLISHMENT and in_mas)):
        return []
    found = []
    for index, right in enumerate(dossier_rights):
        if category_of(right["type"]) != AAH or right["statut"] == "echu":
            continue
        message = (
            f"{label(right['type'])} : la personne vit {PLACE_LABELS[move.lives]} ; à partir "
            f"du mois qui suit {AAH_STAY_DAYS} jours révolus à l'hôpital ou en MAS, l'AAH est "
            "ramenée à 30 % de son montant, sauf si la personne paie le forfait journalier, a "
            "un enfant ou un ascendant à charge, ou si son conjoint ne travaille pas pour un "
            "motif reconnu par la CDAPH (CSS R821-8) : informer la CAF ou la MSA."
        )
        alert = _alert("reduction_etablissement", right["identifiant"], move.moved_on, message)
        found.append({**alert, "chemin": f"droits[{index}]"})
    return found


def _lapsed(right: dict[str, Any], move: Move) -> list[dict[str, str]]:
    """A right that ended before the move: the receiving MDPH offers a new request."""
    message = (
        f"{label(right['type'])} : droit échu le {fr(right['date_echeance'])}, avant le "
        "déménagement ; si la personne en a toujours besoin, lui proposer une nouvelle demande "
        f"auprès de la MDPH {competent_mdph(move).of()} (CASF L146-3)."
    )
    return [_alert("nouvelle_demande", right["identifiant"], move.moved_on, message)]


def _paid_until(
    right: dict[str, Any], payers: list[dict[str, Any]], move: Move
) -> list[dict[str, str]]:
    """The origin's payments must stop the day before the switch: no double payment, no gap."""
    paid_until = (right["pch"] or {}).get("payee_jusquau")
    last_day = date.fromisoformat(payers[0]["au"])
    if paid_until is None or paid_until == last_day:
        return []
    effect = "un double paiement" if paid_until > last_day else "une interruption"
    return [
        _alert(
            "versement_a_ajuster",
            right["identifiant"],
            last_day,
            f"{label(right['type'])} : versée jusqu'au {fr(paid_until)} selon le dossier, alors "
            f"que {payers[0]['payeur']['libelle']} paie jusqu'au {fr(last_day)} ; ajuster les "
            f"versements entre les deux départements pour éviter {effect}.",
        )
    ]


def _establishment_alerts(right: dict[str, Any], move: Move, name: str) -> list[dict[str, str]]:
    finess = right["etablissement_finess"]
    where = departement_of_finess(finess) if finess else None
    if where is None:
        message = f"{name} : rechercher une place dans le nouveau territoire dès l'arrivée."
        return [_alert("orientation_place", right["identifiant"], move.moved_on, message)]
    if where == move.destination.code:
        return []
    message = (
        f"{name} : l'établissement désigné est situé {move.sides.place(where).in_()} ; "
        "l'orientation reste valable, vérifier avec la famille la poursuite de l'accueil."
    )
    return [_alert("etablissement_autre_departement", right["identifiant"], move.moved_on, message)]


def _renewal(right: dict[str, Any], move: Move, name: str) -> list[dict[str, str]]:
    end = right["date_echeance"]
    if end is None or end > add_months(move.moved_on, RENEWAL_NOTICE_MONTHS):
        return []
    if category_of(right["type"]) == AEEH and _turns_20_by(move, end):
        return [_adulthood(right, move, name)]
    deadline = max(move.moved_on, add_months(end, -RENEWAL_LEAD_MONTHS))
    message = (
        f"{name} : le droit prend fin le {fr(end)} ; engager le renouvellement avant le "
        f"{fr(deadline)} pour éviter une rupture."
    )
    return [_alert("renouvellement", right["identifiant"], deadline, message)]


def _turns_20_by(move: Move, end: date) -> bool:
    """Tell whether the person is 20 within the renewal window after `end` (AEEH stops at 20)."""
    if move.birth is None:
        return False
    return add_years(move.birth, AEEH_END_AGE) <= add_months(end, RENEWAL_NOTICE_MONTHS)


def _adulthood(right: dict[str, Any], move: Move, name: str) -> dict[str, str]:
    """AEEH ends at 20 (CSS L541-1): the family asks for AAH and adult rights, not a renewal."""
    birthday = add_years(move.birth, AEEH_END_AGE)  # type: ignore[arg-type]
    deadline = max(move.moved_on, add_months(birthday, -RENEWAL_LEAD_MONTHS))
    message = (
        f"{name} : l'AEEH et ses compléments prennent fin aux 20 ans de la personne, le "
        f"{fr(birthday)} ; ne pas la renouveler, mais déposer avant le {fr(deadline)} auprès de "
        f"la MDPH {competent_mdph(move).of()} une demande d'AAH (et, selon la situation, de PCH, "
        "d'orientation pour adultes ou de maintien en établissement pour enfants au titre de "
        "l'amendement Creton)."
    )
    return _alert("passage_adulte", right["identifiant"], deadline, message)


def map_aid(aid: dict[str, Any], move: Move) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """An extra-legal aid of the origin: kept, an equivalent to open, or its plain end."""
    rules = move.origin_rules.aid(aid["code"]) if move.origin_rules else None
    end = aid["date_echeance"]
    outcome: dict[str, Any] = {
        "identifiant": aid["identifiant"],
        "code": aid["code"],
        "libelle": rules.label if rules else aid["code"],
        "valable_jusquau": end and end.isoformat(),
    }
    if end is not None and end < move.moved_on:
        reason = f"Aide échue le {fr(end)}, avant le déménagement : signalée, non reprise."
        return {**outcome, "resultat": ENDED, "payeurs": [], "motifs": [reason]}, []
    if rules is None:
        reason = f"Aide inconnue des règles {move.origin.of()} : non transférable."
        return {**outcome, "resultat": NOT_TRANSFERABLE, "payeurs": [], "motifs": [reason]}, []
    start = max(move.moved_on, aid["date_ouverture"])
    if rules.legal:
        return _legal_aid(aid, rules, move, outcome, start)
    origin_pays = {
        "organisme": "departement",
        "departement": move.origin.code,
        "libelle": move.origin.council(),
    }
    own = f"« {rules.label} » est une aide propre {move.origin.to()}"
    if rules.ends != ENDS_ON_MOVE and move.domicile_on is None:
        payers = [{"du": start.isoformat(), "au": end and end.isoformat(), "payeur": origin_pays}]
        reason = (
            f"{own} ; la personne réside en établissement, le domicile de secours ne change pas : "
            "l'aide continue d'être versée par le département d'origine."
        )
        return {**outcome, "resultat": MAINTAINED, "payeurs": payers, "motifs": [reason]}, []
    last_day = _aid_last_day(rules, move, end)
    payers = []
    if last_day >= start:
        payers = [{"du": start.isoformat(), "au": last_day.isoformat(), "payeur": origin_pays}]
    equivalent = move.destination_rules and move.destination_rules.equivalent_of(rules)
    if rules.to_confirm or (equivalent and equivalent.to_confirm):
        outcome = {**outcome, "a_confirmer": True}
    if equivalent:
        opens = max(move.moved_on, last_day + ONE_DAY)
        reasons = [
            f"{own} ; elle prend fin le {fr(last_day)}.",
            f"Aide équivalente à ouvrir {move.destination.of()} à compter du {fr(opens)} : "
            f"« {equivalent.label} ».",
        ]
        alert = _alert(
            "aide_equivalente",
            aid["identifiant"],
            opens,
            f"Aide extra-légale : ouvrir « {equivalent.label} » à compter du {fr(opens)}, "
            f"à la suite de « {rules.label} » {move.origin.of()}.",
        )
        reasons += _provisional(outcome)
        return {**outcome, "resultat": TO_ACT_ON, "payeurs": payers, "motifs": reasons}, [alert]
    reasons = [
        f"{own}, sans équivalent {move.destination.in_()} : elle prend fin le {fr(last_day)} "
        "et n'est pas transférable.",
        *_provisional(outcome),
    ]
    return {**outcome, "resultat": NOT_TRANSFERABLE, "payeurs": payers, "motifs": reasons}, []


def _provisional(outcome: dict[str, Any]) -> list[str]:
    """Say so when a placeholder value of a rule file decided the outcome."""
    if not outcome.get("a_confirmer"):
        return []
    return ["Résultat provisoire : la règle du département qui le fonde est à confirmer."]


def _legal_aid(
    aid: dict[str, Any], rules: ExtraLegalAid, move: Move, outcome: dict[str, Any], start: date
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A legal social aid every département owes: it goes on, paid by the domicile de secours."""
    end = aid["date_echeance"]
    payers = payer_periods(
        {"type": "aide", "payeur": "departement", "pch": None}, move.sides, start, end
    )
    reasons = [
        f"« {rules.label} » relève de l'aide sociale légale, due par tout département "
        f"({rules.source}) : elle continue jusqu'à son échéance.",
        _domicile_reason(payers, move),
    ]
    alerts = []
    if len(payers) == 2:
        switch = date.fromisoformat(payers[1]["du"])
        alerts.append(
            _alert(
                "bascule_payeur",
                aid["identifiant"],
                switch,
                f"{rules.label} : {move.destination.council()} devient payeur le {fr(switch)} ; "
                "mettre en place l'aide avant cette date.",
            )
        )
    result = PAYER_SWITCH if len(payers) == 2 else MAINTAINED
    return {**outcome, "resultat": result, "payeurs": payers, "motifs": reasons}, alerts


def _aid_last_day(aid: ExtraLegalAid, move: Move, end: date | None) -> date:
    """The origin's own aid stops with the move, or when the domicile de secours moves."""
    stop = (
        move.moved_on - ONE_DAY
        if aid.ends == ENDS_ON_MOVE or move.domicile_on is None
        else move.domicile_on - ONE_DAY
    )
    return stop if end is None else min(stop, end)


def request_alerts(requests: list[dict[str, Any]], move: Move) -> list[dict[str, str]]:
    """Pending requests: to take over, past the implicit rejection, or with an old certificate."""
    alerts = []
    for index, request in enumerate(requests):
        reference = f"demandes_en_cours[{index}]"
        what = f"Demande {of_right(label(request['type']))}"
        lodged = request["date_depot"]
        silence = add_months(lodged, IMPLICIT_REJECTION_MONTHS)
        if silence <= move.moved_on:
            message = (
                f"{what} déposée le {fr(lodged)} : sans décision depuis plus de "
                f"{IMPLICIT_REJECTION_MONTHS} mois, elle vaut rejet implicite (CASF R241-33) ; "
                "la réexaminer avec la personne."
            )
            alerts.append(_alert("rejet_implicite", reference, move.moved_on, message))
        else:
            message = (
                f"{what} déposée le {fr(lodged)} : à reprendre ; sans décision au "
                f"{fr(silence)}, elle vaudra rejet implicite."
            )
            alerts.append(_alert("demande_en_cours", reference, silence, message))
        alerts += _certificate(request, move, reference, what)
    return [{**alert, "chemin": alert["reference"]} for alert in alerts]


def _certificate(
    request: dict[str, Any], move: Move, reference: str, what: str
) -> list[dict[str, str]]:
    rules = move.destination_rules
    certified = request["date_certificat_medical"]
    if rules is None:
        return []
    months = rules.certificate_max_months.value
    if add_months(certified, months) >= move.moved_on:
        return []
    message = (
        f"{what} : le certificat médical du {fr(certified)} a plus de {months} mois, durée "
        f"demandée par {move.destination.the()} ; en demander un nouveau."
    )
    return [_alert("certificat_medical", reference, move.moved_on, message)]
