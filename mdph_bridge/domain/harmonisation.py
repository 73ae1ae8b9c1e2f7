"""Map each right of a dossier onto the destination's rules: one outcome each, no gap in rights.

The mapping report says, for every right, what happens after the move (DOMAIN.md §1 to §3): it
continues unchanged, continues with a change of payer, needs the receiving MDPH to act, ends because
it is the origin's own aid, or had already ended. Rights are never shortened: every outcome but
`echu` and `non_transferable` keeps the CDAPH decision's end date, and names who pays on every day
from the move to that end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from mdph_bridge.domain.dates import add_months
from mdph_bridge.domain.identifiers import departement_of_finess
from mdph_bridge.domain.rights import (
    ALLOCATION_COMPENSATRICE,
    PCH,
    PCH_HUMAN_HELP,
    category_of,
    label,
)
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
DEPARTEMENT_PAYERS = frozenset({"departement"})
FAMILY_FUNDS = {"caf": "CAF", "msa": "MSA"}
NATIONAL_PAYERS = {
    "etat": "l'État (carte valable sur tout le territoire)",
    "assurance_maladie": "l'Assurance maladie",
    "education_nationale": "l'Éducation nationale",
    "autre": "l'organisme national compétent (France Travail, Cap emploi…)",
}
HOUR_MODES = ("emploi_direct", "mandataire", "prestataire", "aidant_familial")
CENT = Decimal("0.01")

# Alert codes, stable: receiving MDPHs may sort and filter on them (docs/HARMONISATION.md).
ALERT_RENEWAL = "renouvellement"
ALERT_PAYER_SWITCH = "bascule_payeur"
ALERT_PLACE = "orientation_place"
ALERT_OTHER_DEPARTEMENT = "etablissement_autre_departement"
ALERT_SCHOOL = "scolarite"
ALERT_PENDING = "demande_en_cours"
ALERT_IMPLICIT_REJECTION = "rejet_implicite"
ALERT_CERTIFICATE = "certificat_medical"
ALERT_EQUIVALENT_AID = "aide_equivalente"
ALERT_CODES = (
    ALERT_RENEWAL,
    ALERT_PAYER_SWITCH,
    ALERT_PLACE,
    ALERT_OTHER_DEPARTEMENT,
    ALERT_SCHOOL,
    ALERT_PENDING,
    ALERT_IMPLICIT_REJECTION,
    ALERT_CERTIFICATE,
    ALERT_EQUIVALENT_AID,
)


def fr(day: date | None) -> str:
    """A date as French agents write it, 02/02/2027."""
    return "sans limitation de durée" if day is None else day.strftime("%d/%m/%Y")


def euros(amount: Decimal, signed: bool = False) -> str:
    """An amount as French agents read it, 1 471,20 € (or +60,00 € for a difference)."""
    text = f"{amount:{'+' if signed else ''},.2f} €"
    return text.replace(",", "\u202f").replace(".", ",")


@dataclass(frozen=True)
class Move:
    """What the mapping needs to know about the move and the rules in force."""

    origin: str
    destination: str
    moved_on: date
    domicile_on: date | None  # None: the person lives in an establishment, the DS does not move
    national: NationalRules
    origin_rules: DepartementRules | None
    destination_rules: DepartementRules | None

    def name(self, code: str) -> str:
        """A département's name as the reports write it."""
        for rules in (self.origin_rules, self.destination_rules):
            if rules is not None and rules.code == code:
                return f"{rules.name} ({code})"
        return f"département {code}"


def domicile_date(dossier: dict[str, Any]) -> date | None:
    """When the destination becomes the domicile de secours; None while in an establishment."""
    moved_on = dossier["transfert"]["date_demenagement"]
    if dossier["transfert"]["motif"] == "domicile_secours":
        return moved_on  # the domicile de secours already lies in the destination
    if dossier["beneficiaire"]["etablissement_accueil_finess"]:
        return None  # CASF L122-2: a stay in an establishment does not change it
    return add_months(moved_on, DOMICILE_MONTHS)


def harmonise(dossier: dict[str, Any], book: RuleBook, destination: str | None = None) -> dict:
    """Build the mapping report of a dossier loaded by `DossierSchema` (JSON-ready)."""
    transfert = dossier["transfert"]
    moved_on = transfert["date_demenagement"]
    dest = destination or transfert["mdph_destination"]
    domicile_on = domicile_date(dossier)
    switch_day = domicile_on or moved_on
    move = Move(
        origin=transfert["mdph_origine"],
        destination=dest,
        moved_on=moved_on,
        domicile_on=domicile_on,
        national=book.national_at(switch_day),
        origin_rules=book.departement_at(transfert["mdph_origine"], moved_on),
        destination_rules=book.departement_at(dest, switch_day),
    )
    rights, alerts = [], []
    for right in dossier["droits"]:
        outcome, right_alerts = map_right(right, move)
        rights.append(outcome)
        alerts += right_alerts
    aids = []
    for aid in dossier.get("aides_extra_legales", []):
        outcome, aid_alerts = map_aid(aid, move)
        aids.append(outcome)
        alerts += aid_alerts
    alerts += request_alerts(dossier["demandes_en_cours"], move)
    alerts.sort(key=lambda a: (a["date_limite"], a["code"], a["reference"]))
    return {
        "version_rapport": REPORT_VERSION,
        "mdph_origine": move.origin,
        "mdph_destination": move.destination,
        "date_demenagement": moved_on.isoformat(),
        "domicile_secours_acquis_le": domicile_on and domicile_on.isoformat(),
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
    """What both sides see on the transfer: counts, alerts, payer switch; no personal data."""
    switches = [
        p["du"]
        for right in report["droits"]
        for p in right["payeurs"][1:]
        if right["resultat"] == PAYER_SWITCH
    ]
    return {
        "version_rapport": report["version_rapport"],
        "versions_regles": report["versions_regles"],
        "resultats": report["resultats"],
        "bascule_payeur": min(switches, default=None),
        "alertes": [
            {key: alert[key] for key in ("code", "reference", "date_limite", "message")}
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
    name = label(type_)
    end = right["date_echeance"]
    outcome: dict[str, Any] = {
        "identifiant": right["identifiant"],
        "type": type_,
        "libelle": name,
        "valable_jusquau": end and end.isoformat(),
        "sans_limitation_duree": right["sans_limitation_duree"],
    }
    if right["statut"] == "echu" or (end is not None and end < move.moved_on):
        reason = f"Droit échu le {fr(end)}, avant le déménagement : signalé, non repris."
        return {**outcome, "resultat": ENDED, "payeurs": [], "motifs": [reason]}, []

    start = max(move.moved_on, right["date_ouverture"])
    payers = payer_periods(right, move, start, end)
    category = category_of(type_)
    if category in (PCH, ALLOCATION_COMPENSATRICE):
        result, reasons, alerts = _payer_switch(right, move, payers)
    elif category in ESTABLISHMENT_ORIENTATIONS:
        result, reasons, alerts = _establishment(right, move)
    elif category in SCHOOL_RIGHTS:
        result, reasons, alerts = _school(right, move)
    else:
        result, reasons, alerts = MAINTAINED, [_continues(end)], []
    if category not in (PCH, ALLOCATION_COMPENSATRICE):
        reasons.append(_paid_by(payers))
    if right["statut"] == "suspendu":
        reasons.append("Droit suspendu par la MDPH d'origine : la suspension est transmise.")
    if right["creton"]:
        reasons.append("Maintien au-delà de 20 ans au titre de l'amendement Creton.")
    alerts += _renewal(right, move, name)
    outcome = {**outcome, "resultat": result, "payeurs": payers, "motifs": reasons}
    destination_pays = payers[-1]["payeur"]["departement"] == move.destination
    if type_ in PCH_HUMAN_HELP and right["pch"] and destination_pays:
        outcome["recalcul_pch"] = pch_amounts(right["pch"], move, payers)
    return outcome, alerts


def _continues(end: date | None) -> str:
    if end is None:
        return "La décision de la CDAPH reste valable sans limitation de durée."
    return f"La décision de la CDAPH reste valable jusqu'au {fr(end)}."


def payer_periods(
    right: dict[str, Any], move: Move, start: date, end: date | None
) -> list[dict[str, Any]]:
    """Who pays, period by period, from `start` to the right's end, leaving no day uncovered."""
    kind = right["payeur"]
    if kind in DEPARTEMENT_PAYERS:
        current = (right["pch"] or {}).get("payeur_departement") or move.origin
        switch = move.domicile_on
        if switch is None or current == move.destination or (end is not None and switch > end):
            return [_period(start, end, _departement_payer(current, move))]
        if switch <= start:
            return [_period(start, end, _departement_payer(move.destination, move))]
        return [
            _period(start, switch - timedelta(days=1), _departement_payer(current, move)),
            _period(switch, end, _departement_payer(move.destination, move)),
        ]
    if kind in FAMILY_FUNDS:
        payer = {
            "organisme": kind,
            "departement": move.destination,
            "libelle": f"la {FAMILY_FUNDS[kind]} de la nouvelle adresse ({move.destination})",
        }
        return [_period(start, end, payer)]
    return [
        _period(
            start, end, {"organisme": kind, "departement": None, "libelle": NATIONAL_PAYERS[kind]}
        )
    ]


def _departement_payer(code: str, move: Move) -> dict[str, Any]:
    return {"organisme": "departement", "departement": code, "libelle": move.name(code)}


def _period(start: date, end: date | None, payer: dict[str, Any]) -> dict[str, Any]:
    return {"du": start.isoformat(), "au": end and end.isoformat(), "payeur": payer}


def _paid_by(payers: list[dict[str, Any]]) -> str:
    if len(payers) == 1:
        return f"Payeur : {payers[0]['payeur']['libelle']}."
    parts = [
        f"{p['payeur']['libelle']} du {fr(date.fromisoformat(p['du']))}"
        + (f" au {fr(date.fromisoformat(p['au']))}" if p["au"] else "")
        for p in payers
    ]
    return "Payeurs : " + ", puis ".join(parts) + "."


def _payer_switch(
    right: dict[str, Any], move: Move, payers: list[dict[str, Any]]
) -> tuple[str, list[str], list[dict[str, str]]]:
    """PCH and ACTP: the domicile de secours decides who pays (CASF L122-2, L245-2)."""
    name = label(right["type"])
    reasons = [_continues(right["date_echeance"])]
    alerts = []
    first = payers[0]["payeur"]["libelle"]
    if len(payers) == 2:
        switch = date.fromisoformat(payers[1]["du"])
        last_day = date.fromisoformat(payers[0]["au"])
        reasons.append(
            f"{first} continue de verser jusqu'au {fr(last_day)}, veille de l'acquisition du "
            f"domicile de secours (déménagement + {DOMICILE_MONTHS} mois) ; "
            f"{move.name(move.destination)} verse à partir du {fr(switch)}."
        )
        mode = move.destination_rules and move.destination_rules.payment_mode.value
        how = f" par {mode}" if mode else ""
        alerts.append(
            _alert(
                ALERT_PAYER_SWITCH,
                right["identifiant"],
                switch,
                f"{name} : {move.name(move.destination)} devient payeur le {fr(switch)} ; "
                f"mettre en place le versement{how} avant cette date.",
            )
        )
    elif move.domicile_on is None:
        reasons.append(
            f"La personne réside en établissement : le domicile de secours ne change pas, "
            f"{first} continue de verser jusqu'à la fin du droit."
        )
    else:
        reasons.append(f"Pris en charge par {first} jusqu'à la fin du droit.")
    return PAYER_SWITCH, reasons, alerts


def pch_amounts(pch: dict[str, Any], move: Move, payers: list[dict[str, Any]]) -> dict[str, Any]:
    """The monthly human-help amount at the destination's tariffs, beside the origin's."""
    national = move.national
    floor = national.home_service_floor
    declared_rate = pch.get("tarif_horaire_prestataire")
    origin_home = (
        Decimal(str(declared_rate)).quantize(CENT)
        if declared_rate is not None
        else (move.origin_rules.home_service_rate if move.origin_rules else floor).value
    )
    dest_home = move.destination_rules.home_service_rate if move.destination_rules else floor
    rates = {
        "emploi_direct": (national.direct_employment_rate.value,) * 2,
        "mandataire": (national.mandatary_rate.value,) * 2,
        "prestataire": (origin_home, dest_home.value),
        "aidant_familial": (national.family_carer_rate.value,) * 2,
    }
    lines, at_origin, at_destination = [], Decimal(0), Decimal(0)
    for mode in HOUR_MODES:
        hours = Decimal(str(pch["heures_mensuelles"][mode]))
        before, after = rates[mode]
        at_origin += hours * before
        at_destination += hours * after
        lines.append(
            {
                "mode": mode,
                "heures": str(hours.normalize()),
                "tarif_origine": str(before),
                "tarif_destination": str(after),
            }
        )
    at_origin, at_destination = at_origin.quantize(CENT), at_destination.quantize(CENT)
    to_confirm = dest_home.to_confirm or any(
        r.to_confirm
        for r in (
            national.direct_employment_rate,
            national.mandatary_rate,
            national.family_carer_rate,
        )
    )
    return {
        "a_partir_du": payers[-1]["du"],
        "heures_maintenues": str(sum(Decimal(str(h)) for h in pch["heures_mensuelles"].values())),
        "lignes": lines,
        "montant_mensuel_declare": str(Decimal(str(pch["montant_mensuel"])).quantize(CENT)),
        "montant_mensuel_tarifs_origine": str(at_origin),
        "montant_mensuel_tarifs_destination": str(at_destination),
        "ecart_mensuel": str(at_destination - at_origin),
        "tarifs_a_confirmer": to_confirm,
        "explication": (
            f"Les heures décidées par la CDAPH sont conservées ; au tarif de "
            f"{move.name(move.destination)}, le montant mensuel passe de {euros(at_origin)} à "
            f"{euros(at_destination)} (écart {euros(at_destination - at_origin, signed=True)})."
            + (" Tarif du département à confirmer." if to_confirm else "")
        ),
    }


def _establishment(
    right: dict[str, Any], move: Move
) -> tuple[str, list[str], list[dict[str, str]]]:
    """An orientation stays valid; a place is needed in the new area unless it is already there."""
    finess = right["etablissement_finess"]
    where = departement_of_finess(finess) if finess else None
    name = label(right["type"])
    reasons = [_continues(right["date_echeance"])]
    alerts = []
    if where == move.destination:
        reasons.append(
            f"L'établissement désigné (FINESS {finess}) est situé dans {move.name(where)} : "
            "la place est déjà dans le nouveau territoire."
        )
        result = MAINTAINED
    else:
        reasons.append(
            "Une place doit être trouvée dans le nouveau territoire (ViaTrajectoire) ; "
            "en attendant, l'orientation reste valable."
        )
        alerts.append(
            _alert(
                ALERT_PLACE,
                right["identifiant"],
                move.moved_on,
                f"{name} : rechercher une place dans le nouveau territoire dès l'arrivée.",
            )
        )
        result = TO_ACT_ON
    if where is not None and where != move.destination:
        reasons.append(
            f"L'établissement désigné (FINESS {finess}) est situé dans {move.name(where)} : "
            "l'orientation reste valable, l'accueil peut se poursuivre de l'autre côté de la "
            "limite départementale."
        )
        alerts.append(
            _alert(
                ALERT_OTHER_DEPARTEMENT,
                right["identifiant"],
                move.moved_on,
                f"{name} : l'établissement désigné est situé dans {move.name(where)} ; "
                "l'orientation reste valable, vérifier avec la famille la poursuite de l'accueil.",
            )
        )
    return result, reasons, alerts


def school_deadline(moved_on: date) -> date:
    """A school orientation must reach the new DSDEN before the pupil's next term starts."""
    return date(moved_on.year, 9, 1) if moved_on.month in SUMMER_MONTHS else moved_on


def _school(right: dict[str, Any], move: Move) -> tuple[str, list[str], list[dict[str, str]]]:
    deadline = school_deadline(move.moved_on)
    dsden = f"la DSDEN de {move.name(move.destination)}"
    name = label(right["type"])
    reasons = [
        _continues(right["date_echeance"]),
        f"À transmettre à {dsden} avant le {fr(deadline)} pour la scolarité.",
    ]
    message = f"{name} : transmettre la décision à {dsden} avant le {fr(deadline)}."
    return TO_ACT_ON, reasons, [_alert(ALERT_SCHOOL, right["identifiant"], deadline, message)]


def _renewal(right: dict[str, Any], move: Move, name: str) -> list[dict[str, str]]:
    end = right["date_echeance"]
    if end is None or end > add_months(move.moved_on, RENEWAL_NOTICE_MONTHS):
        return []
    deadline = max(move.moved_on, add_months(end, -RENEWAL_LEAD_MONTHS))
    message = (
        f"{name} : le droit prend fin le {fr(end)} ; engager le renouvellement avant le "
        f"{fr(deadline)} pour éviter une rupture."
    )
    return [_alert(ALERT_RENEWAL, right["identifiant"], deadline, message)]


def map_aid(aid: dict[str, Any], move: Move) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """An extra-legal aid of the origin: an equivalent to open, or the plain end of it."""
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
        reason = f"Aide inconnue des règles de {move.name(move.origin)} : non transférable."
        return {**outcome, "resultat": NOT_TRANSFERABLE, "payeurs": [], "motifs": [reason]}, []
    last_day = _aid_last_day(rules, move, end)
    start = max(move.moved_on, aid["date_ouverture"])
    payers = []
    if last_day is None or last_day >= start:
        payers = [_period(start, last_day, _departement_payer(move.origin, move))]
    ends = f"elle prend fin le {fr(last_day)}" if last_day else "elle se poursuit"
    equivalent = move.destination_rules and move.destination_rules.equivalent_of(rules)
    if equivalent:
        reasons = [
            f"« {rules.label} » est une aide propre à {move.name(move.origin)} ; {ends}.",
            f"Aide équivalente à ouvrir : « {equivalent.label} » de {move.name(move.destination)}.",
        ]
        deadline = max(move.moved_on, last_day) if last_day else move.moved_on
        alert = _alert(
            ALERT_EQUIVALENT_AID,
            aid["identifiant"],
            deadline,
            f"Aide extra-légale : ouvrir « {equivalent.label} » avant le {fr(deadline)}, "
            f"équivalent de l'aide « {rules.label} » de {move.name(move.origin)}.",
        )
        return {**outcome, "resultat": TO_ACT_ON, "payeurs": payers, "motifs": reasons}, [alert]
    reasons = [
        f"« {rules.label} » est une aide propre à {move.name(move.origin)}, sans équivalent "
        f"dans {move.name(move.destination)} : {ends}, elle n'est pas transférable."
    ]
    return {**outcome, "resultat": NOT_TRANSFERABLE, "payeurs": payers, "motifs": reasons}, []


def _aid_last_day(aid: ExtraLegalAid, move: Move, end: date | None) -> date | None:
    """The origin's own aid stops with the move, or when the domicile de secours changes."""
    if aid.ends == ENDS_ON_MOVE:
        stop = move.moved_on - timedelta(days=1)
    elif move.domicile_on is not None:
        stop = move.domicile_on - timedelta(days=1)
    else:
        return end  # in an establishment the domicile de secours stays: so does the aid
    return stop if end is None else min(stop, end)


def request_alerts(requests: list[dict[str, Any]], move: Move) -> list[dict[str, str]]:
    """Pending requests: to take over, past the implicit rejection, or with an old certificate."""
    alerts = []
    for index, request in enumerate(requests):
        reference = f"demandes_en_cours[{index}]"
        name = label(request["type"])
        lodged = request["date_depot"]
        silence = add_months(lodged, IMPLICIT_REJECTION_MONTHS)
        if silence <= move.moved_on:
            alerts.append(
                _alert(
                    ALERT_IMPLICIT_REJECTION,
                    reference,
                    move.moved_on,
                    f"Demande de {name} déposée le {fr(lodged)} : sans décision depuis plus de "
                    f"{IMPLICIT_REJECTION_MONTHS} mois, elle vaut rejet implicite (CASF R241-33) ; "
                    "la réexaminer avec la personne.",
                )
            )
        else:
            alerts.append(
                _alert(
                    ALERT_PENDING,
                    reference,
                    silence,
                    f"Demande de {name} déposée le {fr(lodged)} : à reprendre ; sans décision au "
                    f"{fr(silence)}, elle vaudra rejet implicite.",
                )
            )
        alerts += _certificate(request, move, reference, name)
    return alerts


def _certificate(
    request: dict[str, Any], move: Move, reference: str, name: str
) -> list[dict[str, str]]:
    rules = move.destination_rules
    certified = request["date_certificat_medical"]
    if rules is None:
        return []
    months = rules.certificate_max_months.value
    if add_months(certified, months) >= move.moved_on:
        return []
    return [
        _alert(
            ALERT_CERTIFICATE,
            reference,
            move.moved_on,
            f"Demande de {name} : le certificat médical du {fr(certified)} a plus de {months} "
            f"mois, durée demandée par {move.name(move.destination)} ; en demander un nouveau.",
        )
    ]
