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
from typing import Any

from mdph_bridge.domain.dates import add_months
from mdph_bridge.domain.identifiers import departement_of_finess
from mdph_bridge.domain.payers import (
    DEPARTEMENT_RIGHTS,
    ONE_DAY,
    Sides,
    payer_periods,
    pch_amounts,
)
from mdph_bridge.domain.places import Place, of_right
from mdph_bridge.domain.rights import AEEH_COMPLEMENTS, PCH_HUMAN_HELP, category_of, label
from mdph_bridge.domain.rulesets import (
    ENDS_ON_MOVE,
    DepartementRules,
    ExtraLegalAid,
    NationalRules,
    RuleBook,
)

REPORT_VERSION = 1
MAINTAINED = "maintenu"
PAYER_SWITCH = "maintenu_changement_payeur"
TO_ACT_ON = "a_instruire"
NOT_TRANSFERABLE = "non_transferable"
ENDED = "echu"
OUTCOMES = (MAINTAINED, PAYER_SWITCH, TO_ACT_ON, NOT_TRANSFERABLE, ENDED)

DOMICILE_MONTHS = 3  # CASF L122-2: 3 months of residence make the domicile de secours
RENEWAL_NOTICE_MONTHS = 6  # rights ending this soon after the move: renewal to plan
RENEWAL_LEAD_MONTHS = 4  # a CDAPH has 4 months to decide (R241-33): ask at least that early
IMPLICIT_REJECTION_MONTHS = 4  # R241-33: 4 months of silence are a rejection
ESTABLISHMENT_ORIENTATIONS = frozenset({"7", "11", "13"})
SCHOOL_RIGHTS = frozenset({"8", "9", "10"})
SUMMER_MONTHS = (7, 8)  # a school orientation can wait for the September term
PAYMENT_LABELS = {"cesu": "CESU", "virement": "virement"}
PCH_ELEMENT_NOTES = {
    "5.2": "Aides techniques : vérifier ce qui a déjà été utilisé du plafond sur 10 ans.",
    "5.3": "Aménagement du logement : un nouveau devis peut être nécessaire à la nouvelle adresse.",
}

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
}
ALERT_CODES = tuple(ALERT_LABELS)


def fr(day: date | None) -> str:
    """A date as French agents write it, 02/02/2027."""
    return "sans limitation de durée" if day is None else day.strftime("%d/%m/%Y")


@dataclass(frozen=True)
class Move:
    """What the mapping needs to know about the move and the rules in force."""

    sides: Sides
    moved_on: date
    national: NationalRules
    origin_rules: DepartementRules | None
    destination_rules: DepartementRules | None

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


def domicile_date(dossier: dict[str, Any]) -> date | None:
    """When the destination becomes the domicile de secours; None while in an establishment."""
    moved_on = dossier["transfert"]["date_demenagement"]
    if dossier["transfert"]["motif"] == "domicile_secours":
        return moved_on  # the domicile de secours already lies in the destination
    if dossier["beneficiaire"]["etablissement_accueil_finess"]:
        return None  # CASF L122-2: a stay in an establishment does not change it
    return add_months(moved_on, DOMICILE_MONTHS)


def _move(dossier: dict[str, Any], book: RuleBook, destination: str | None) -> Move:
    transfert = dossier["transfert"]
    moved_on = transfert["date_demenagement"]
    origin_code = transfert["mdph_origine"]
    dest_code = destination or transfert["mdph_destination"]
    domicile_on = domicile_date(dossier)
    switch_day = domicile_on or moved_on
    origin_rules = book.departement_at(origin_code, moved_on)
    dest_rules = book.departement_at(dest_code, switch_day)
    places = {code: versions[-1].place for code, versions in book.departements.items() if versions}
    sides = Sides(
        origin=places.get(origin_code, Place(origin_code)),
        destination=places.get(dest_code, Place(dest_code)),
        domicile_on=domicile_on,
        places=places,
    )
    return Move(sides, moved_on, book.national_at(switch_day), origin_rules, dest_rules)


def harmonise(dossier: dict[str, Any], book: RuleBook, destination: str | None = None) -> dict:
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
    alerts += request_alerts(dossier["demandes_en_cours"], move)
    alerts.sort(key=lambda a: (a["date_limite"], a["code"]))  # then in the dossier's order
    return {
        "version_rapport": REPORT_VERSION,
        "mdph_origine": move.origin.code,
        "mdph_destination": move.destination.code,
        "date_demenagement": move.moved_on.isoformat(),
        "domicile_secours_acquis_le": move.domicile_on and move.domicile_on.isoformat(),
        "versions_regles": versions(move),
        "informations_accueil": receiving_side(move.destination_rules),
        "droits": rights,
        "aides_extra_legales": aids,
        "alertes": alerts,
        "resultats": counts(rights + aids),
    }


def receiving_side(rules: DepartementRules | None) -> dict[str, Any] | None:
    """The destination's local procedures and contact point, for the report's readers."""
    if rules is None:
        return None
    values = {
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
        return {**outcome, "resultat": ENDED, "payeurs": [], "motifs": [reason]}, []

    start = max(move.moved_on, right["date_ouverture"])
    payers = payer_periods(right, move.sides, start, end)
    category = category_of(type_)
    reasons = [_continues(end)]
    if category in DEPARTEMENT_RIGHTS:
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
    return last["organisme"] == "departement" and last["departement"] == move.destination.code


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
        return (
            f"La personne réside en établissement : le domicile de secours ne change pas, "
            f"{first} continue de verser jusqu'à la fin du droit."
        )
    return f"Payeur jusqu'à la fin du droit : {first}."


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
    if where == move.destination.code:
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
    if len(payers) == 2 and right["statut"] != "suspendu":
        switch = date.fromisoformat(payers[1]["du"])
        mode = move.destination_rules and move.destination_rules.payment_mode.value
        how = f" par {PAYMENT_LABELS[mode]}" if mode else ""
        alerts.append(
            _alert(
                "bascule_payeur",
                ref,
                switch,
                f"{name} : {move.destination.council()} devient payeur le {fr(switch)} ; "
                f"mettre en place le versement{how} avant cette date.",
            )
        )
        alerts += _paid_until(right, payers, move)
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
    deadline = max(move.moved_on, add_months(end, -RENEWAL_LEAD_MONTHS))
    message = (
        f"{name} : le droit prend fin le {fr(end)} ; engager le renouvellement avant le "
        f"{fr(deadline)} pour éviter une rupture."
    )
    return [_alert("renouvellement", right["identifiant"], deadline, message)]


def map_aid(aid: dict[str, Any], move: Move) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """An extra-legal aid of the origin: kept, an equivalent to open, or its plain end."""
    rules = move.origin_rules and move.origin_rules.aid(aid["code"])
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
        return {**outcome, "resultat": TO_ACT_ON, "payeurs": payers, "motifs": reasons}, [alert]
    reasons = [
        f"{own}, sans équivalent {move.destination.in_()} : elle prend fin le {fr(last_day)} "
        "et n'est pas transférable."
    ]
    return {**outcome, "resultat": NOT_TRANSFERABLE, "payeurs": payers, "motifs": reasons}, []


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
