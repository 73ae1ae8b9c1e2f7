"""A reviewed corpus of dossiers with their expected mapping, each with the law it follows.

Every case is a move on 02/11/2026 (the domicile de secours moves on 02/02/2027) unless it says
otherwise. `payers` lists (from, to, organisme, département) per right or aid; `alerts` is the
whole list of (code, reference, deadline) the report must give, in its order; `says` holds
sentences or fragments the report must contain somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from harmonisation_cases import (
    FINESS_59,
    FINESS_62,
    aid,
    loaded,
    one_off,
    pch,
    request,
    right,
)

Payers = list[tuple[str, str | None, str, str | None]]
MOVE, DS, DAY_BEFORE_DS, END = "2026-11-02", "2027-02-02", "2027-02-01", "2029-12-31"
ORIGIN_THEN = {
    "59": [(MOVE, DAY_BEFORE_DS, "departement", "59"), (DS, END, "departement", "62")],
    "62": [(MOVE, DAY_BEFORE_DS, "departement", "62"), (DS, END, "departement", "59")],
}


@dataclass(frozen=True)
class Case:
    """One dossier, what the report must say about it, and the legal reference it rests on."""

    name: str
    reference: str
    dossier: dict[str, Any]
    outcomes: dict[str, str]
    alerts: list[tuple[str, str, str]]
    payers: dict[str, Payers] = field(default_factory=dict)
    says: tuple[str, ...] = ()
    competent: str | None = None


def pch_right(identifiant: str = "PCH", payer: str = "59", **changes: Any) -> dict[str, Any]:
    """PCH human help paid by `payer`."""
    return right(identifiant, "5.1", payeur="departement", pch_block=pch(payeur=payer), **changes)


CASES = [
    Case(
        "adulte-pch-bascule-au-domicile-de-secours",
        "CASF L122-2 (3 mois de résidence), L245-2 (PCH versée par le département du DS)",
        loaded([pch_right()]),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", DS)],
        {"PCH": ORIGIN_THEN["59"]},
        competent="62",
    ),
    Case(
        "actp-bascule-comme-la-pch",
        "CASF L122-2 ; ACTP maintenue (loi 2005-102, art. 95), payée par le département du DS",
        loaded([right("ACTP", "2.2", payeur="departement")], origin="62", dest="59"),
        {"ACTP": "maintenu_changement_payeur"},
        [("bascule_payeur", "ACTP", DS)],
        {"ACTP": ORIGIN_THEN["62"]},
    ),
    Case(
        "adulte-en-etablissement-l-origine-paie-et-reste-competente",
        "CASF L122-2 al. 1 (pas de DS acquis en établissement), L146-3 (MDPH du DS quand le "
        "lieu de vie n'en fait pas acquérir), D245-74 al. 1 (réduction à 10 % après 45 jours)",
        loaded([pch_right()], establishment=FINESS_62, birth=date(1980, 5, 1)),
        {"PCH": "maintenu_changement_payeur"},
        [("reduction_etablissement", "PCH", MOVE)],
        {"PCH": [(MOVE, END, "departement", "59")]},
        says=(
            "CASF L146-3",
            "reste dans le Nord (59)",
            "au-delà de 45 jours consécutifs",
            "réduite à 10 %",
            "confier l'évaluation à la MDPH du Pas-de-Calais",
        ),
        competent="59",
    ),
    Case(
        "mineur-en-ime-suit-ses-parents",
        "CASF L122-2 al. 2 : le mineur non émancipé a le DS de qui exerce l'autorité parentale",
        loaded(
            [pch_right(), right("IME", "7.1", payeur="assurance_maladie", finess=FINESS_59)],
            establishment=FINESS_59,
            birth=date(2014, 6, 1),
            representatives=("parent",),
        ),
        {"PCH": "maintenu_changement_payeur", "IME": "maintenu"},
        [
            ("etablissement_autre_departement", "IME", MOVE),
            ("reduction_etablissement", "PCH", MOVE),
            ("bascule_payeur", "PCH", DS),
        ],
        {"PCH": ORIGIN_THEN["59"]},
        competent="62",
    ),
    Case(
        "mineur-en-ime-majeur-avant-la-bascule-garde-l-origine",
        "CASF L122-2 al. 1 (DS acquis après la majorité, jamais en établissement) et al. 2 "
        "(DS des parents jusqu'à 18 ans) ; L122-3 1° (pas de perte pendant le séjour)",
        loaded(
            [pch_right(), right("IME", "7.1", payeur="assurance_maladie", finess=FINESS_59)],
            establishment=FINESS_59,
            birth=date(2009, 1, 10),
            representatives=("parent",),
        ),
        {"PCH": "maintenu_changement_payeur", "IME": "maintenu"},
        [
            ("etablissement_autre_departement", "IME", MOVE),
            ("reduction_etablissement", "PCH", MOVE),
        ],
        {"PCH": [(MOVE, END, "departement", "59")]},
        says=("devient majeure le 10/01/2027", "n'en acquiert pas de nouveau"),
        competent="59",
    ),
    Case(
        "mineur-a-domicile-majeur-avant-la-bascule-trois-mois-apres-sa-majorite",
        "CASF L122-2 al. 1 : résidence habituelle de trois mois postérieure à la majorité ; "
        "al. 2 : DS des parents jusque-là",
        loaded([pch_right()], birth=date(2008, 12, 15), representatives=("parent",)),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", "2027-03-15")],
        {
            "PCH": [
                (MOVE, "2027-03-14", "departement", "59"),
                ("2027-03-15", END, "departement", "62"),
            ]
        },
        says=("trois mois de résidence depuis sa majorité, le 15/03/2027",),
        competent="62",
    ),
    Case(
        "mineur-a-domicile-majeur-apres-la-bascule-suit-ses-parents",
        "CASF L122-2 al. 2 : le mineur a le DS de ses parents, acquis trois mois après le "
        "déménagement",
        loaded([pch_right()], birth=date(2009, 3, 1), representatives=("parent",)),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", DS)],
        {"PCH": ORIGIN_THEN["59"]},
        competent="62",
    ),
    Case(
        "accueil-familial-agree-ne-donne-pas-de-domicile-de-secours",
        "CASF L122-2 al. 1 : pas de DS acquis chez un accueillant familial rémunéré",
        loaded([pch_right()], lives={"type": "accueil_familial", "finess": None, "depuis": None}),
        {"PCH": "maintenu_changement_payeur"},
        [],
        {"PCH": [(MOVE, END, "departement", "59")]},
        says=("chez un accueillant familial agréé",),
        competent="59",
    ),
    Case(
        "hopital-pch-et-aah-reduites",
        "CASF L122-2 al. 1 (établissement sanitaire), D245-74 (PCH après 45 jours), "
        "CSS R821-8 I (AAH à 30 % après 60 jours révolus)",
        loaded(
            [pch_right(), right("AAH", "1.1")],
            lives={"type": "hopital", "finess": None, "depuis": None},
        ),
        {"PCH": "maintenu_changement_payeur", "AAH": "maintenu"},
        [("reduction_etablissement", "PCH", MOVE), ("reduction_etablissement", "AAH", MOVE)],
        {"PCH": [(MOVE, END, "departement", "59")], "AAH": [(MOVE, END, "caf", "62")]},
        says=("CSS R821-8", "CASF D245-74", "ramenée à 30 %", "forfait journalier"),
    ),
    Case(
        "aah-en-mas-reduite",
        "CSS R821-8 I : AAH ramenée à 30 % au-delà de 60 jours révolus en MAS",
        loaded(
            [
                right("AAH", "1.1"),
                right("MAS", "13.3", payeur="assurance_maladie", finess=FINESS_62),
            ],
            establishment=FINESS_62,
        ),
        {"AAH": "maintenu", "MAS": "maintenu"},
        [("reduction_etablissement", "AAH", MOVE)],
    ),
    Case(
        "aide-menagere-legale-vers-l-aisne",
        "CASF L241-1 renvoyant à L231-1 : services ménagers, aide sociale légale",
        loaded([right("AAH", "1.1")], dest="02", aids=[aid("MENAGE", "59_aide_menagere_ph")]),
        {"AAH": "maintenu", "MENAGE": "maintenu_changement_payeur"},
        [("bascule_payeur", "MENAGE", DS)],
        {
            "MENAGE": [
                (MOVE, DAY_BEFORE_DS, "departement", "59"),
                (DS, None, "departement", "02"),
            ]
        },
        says=("aide sociale légale",),
    ),
    Case(
        "aide-menagere-legale-vers-la-somme",
        "CASF L241-1 renvoyant à L231-1",
        loaded(
            [right("AAH", "1.1")],
            origin="62",
            dest="80",
            aids=[aid("MENAGE", "62_aide_menagere", echeance=date(2027, 12, 31))],
        ),
        {"AAH": "maintenu", "MENAGE": "maintenu_changement_payeur"},
        [("bascule_payeur", "MENAGE", DS)],
        {
            "MENAGE": [
                (MOVE, DAY_BEFORE_DS, "departement", "62"),
                (DS, "2027-12-31", "departement", "80"),
            ]
        },
    ),
    Case(
        "aide-extra-legale-provisoire-le-dit",
        "Règlement départemental d'aide sociale (CASF L121-4) : aide propre au département",
        loaded([right("AAH", "1.1")], aids=[aid("TRANSPORT", "59_transport_adapte")]),
        {"AAH": "maintenu", "TRANSPORT": "non_transferable"},
        [],
        {"TRANSPORT": []},
        says=("Résultat provisoire",),
    ),
    Case(
        "aeeh-a-20-ans-demande-d-aah",
        "CSS L541-1 (AEEH jusqu'à 20 ans), L821-1 (AAH) ; délai de décision R241-33",
        loaded(
            [right("AEEH", "6.1", echeance=date(2027, 1, 14))],
            birth=date(2007, 1, 15),
            representatives=("parent",),
        ),
        {"AEEH": "maintenu"},
        [("passage_adulte", "AEEH", MOVE)],
        {"AEEH": [(MOVE, "2027-01-14", "caf", "62")]},
        says=("demande d'AAH", "amendement Creton"),
    ),
    Case(
        "aeeh-et-complement-a-20-ans-au-printemps",
        "CSS L541-1 ; R241-33 (4 mois pour décider)",
        loaded(
            [
                right("AEEH", "6.1", echeance=date(2027, 4, 19)),
                right("COMPL", "6.3", echeance=date(2027, 4, 19)),
            ],
            birth=date(2007, 4, 20),
        ),
        {"AEEH": "maintenu", "COMPL": "maintenu"},
        [("passage_adulte", "AEEH", "2026-12-20"), ("passage_adulte", "COMPL", "2026-12-20")],
    ),
    Case(
        "aeeh-d-un-enfant-de-14-ans-se-renouvelle",
        "CSS L541-1 ; R241-33",
        loaded([right("AEEH", "6.1", echeance=date(2027, 3, 31))], birth=date(2012, 9, 1)),
        {"AEEH": "maintenu"},
        [("renouvellement", "AEEH", "2026-11-30")],
    ),
    Case(
        "pch-aide-technique-deja-versee",
        "CASF L245-3 2° et annexe 2-5 : aides techniques versées sur facture",
        loaded(
            [
                right(
                    "TECH",
                    "5.2",
                    payeur="departement",
                    pch_block=one_off(3000, (3000, date(2025, 3, 3), "59")),
                )
            ]
        ),
        {"TECH": "maintenu"},
        [],
        {"TECH": ORIGIN_THEN["59"]},
        says=("entièrement versé",),
    ),
    Case(
        "pch-aide-technique-en-partie-versee",
        "CASF L245-3 2° et annexe 2-5 ; L122-2 pour le payeur des factures suivantes",
        loaded(
            [
                right(
                    "TECH",
                    "5.2",
                    payeur="departement",
                    pch_block=one_off(3000, (1200, date(2025, 3, 3), "59")),
                )
            ]
        ),
        {"TECH": "maintenu_changement_payeur"},
        [("versement_ponctuel", "TECH", DS)],
        {"TECH": ORIGIN_THEN["59"]},
        says=("1\u202f200,00 €, à ne pas verser de nouveau", "1\u202f800,00 € restants"),
    ),
    Case(
        "pch-amenagement-du-logement-a-redemander",
        "CASF L245-3 3° et annexe 2-5 : aménagement du logement où vit la personne ; D245-14 "
        "(frais de déménagement si l'ancien logement ne pouvait être aménagé)",
        loaded([right("LOGT", "5.3", payeur="departement", pch_block=one_off(8000))]),
        {"LOGT": "a_instruire"},
        [("logement_nouvelle_adresse", "LOGT", MOVE), ("versement_ponctuel", "LOGT", DS)],
        {"LOGT": ORIGIN_THEN["59"]},
        says=("frais de déménagement", "ne pouvait pas être aménagé", "CASF D245-14"),
    ),
    Case(
        "droit-echu-peu-avant-le-demenagement",
        "CASF L146-3 : la MDPH de la nouvelle résidence, dès lors qu'elle fait acquérir un DS",
        loaded([right("AAH", "1.2", echeance=date(2026, 9, 30), statut="echu")]),
        {"AAH": "echu"},
        [("nouvelle_demande", "AAH", MOVE)],
        {"AAH": []},
    ),
    Case(
        "droit-echu-en-etablissement-nouvelle-demande-a-la-mdph-du-domicile-de-secours",
        "CASF L146-3 : MDPH du DS quand le lieu de vie n'en fait pas acquérir ; L122-2 al. 1",
        loaded(
            [right("AAH", "1.2", echeance=date(2026, 9, 30), statut="echu")],
            establishment=FINESS_62,
            birth=date(1980, 5, 1),
        ),
        {"AAH": "echu"},
        [("nouvelle_demande", "AAH", MOVE)],
        {"AAH": []},
        says=("nouvelle demande auprès de la MDPH du Nord (59) (CASF L146-3)",),
        competent="59",
    ),
    Case(
        "cmi-rqth-esat-payeurs-selon-le-droit",
        "CASF L241-3 (CMI) ; Code du travail L5213-2 (RQTH), L5214-3-1 (orientation)",
        loaded(
            [
                right("CMI", "4.2", payeur="autre"),
                right("RQTH", "12", payeur="etat", echeance=None),
                right("ESAT", "11.4", payeur="etat"),
            ]
        ),
        {"CMI": "maintenu", "RQTH": "maintenu", "ESAT": "a_instruire"},
        [("orientation_place", "ESAT", MOVE)],
        {
            "CMI": [(MOVE, END, "aucun", None)],
            "RQTH": [(MOVE, None, "aucun", None)],
            "ESAT": [(MOVE, END, "autre", None)],
        },
        says=(
            "aucun versement : carte valable sur tout le territoire",
            "France Travail ou Cap emploi",
        ),
    ),
    Case(
        "majeur-sous-tutelle-pch-versee-au-tuteur",
        "Code civil 473 et 474 (tutelle) ; CASF L245-2",
        loaded([pch_right()], representatives=("tuteur",)),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", DS)],
        says=("versée au tuteur",),
    ),
    Case(
        "majeur-sous-curatelle-verifier-le-jugement",
        "Code civil 472 (curatelle renforcée : le curateur perçoit les revenus)",
        loaded([pch_right()], representatives=("curateur",)),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", DS)],
        says=("en curatelle renforcée, la PCH est versée au curateur",),
    ),
    Case(
        "domicile-de-secours-deja-dans-le-departement-d-accueil",
        "CASF L122-2 : le DS est déjà acquis dans le département d'accueil",
        loaded([pch_right()], motif="domicile_secours"),
        {"PCH": "maintenu_changement_payeur"},
        [],
        {"PCH": [(MOVE, END, "departement", "62")]},
        competent="62",
    ),
    Case(
        "frontiere-brebieres-douai-sans-demenagement",
        "CASF L122-2 (pas de changement de DS sans résidence nouvelle), L146-3",
        loaded(
            [
                right("IME", "7.1", payeur="assurance_maladie", finess=FINESS_59),
                right("AEEH", "6.1"),
                pch_right(payer="62"),
            ],
            origin="62",
            dest="59",
            motif="orientation_frontaliere",
            birth=date(2016, 2, 1),
            representatives=("parent",),
        ),
        {"IME": "maintenu", "AEEH": "maintenu", "PCH": "maintenu_changement_payeur"},
        [],
        {
            "PCH": [(MOVE, END, "departement", "62")],
            "AEEH": [(MOVE, END, "caf", "62")],
        },
        says=("Pas de déménagement", "sans déménager"),
        competent="62",
    ),
    Case(
        "departement-sans-regles-propres-regles-nationales",
        "CASF L245-2 (PCH identique sur tout le territoire), D314-130-1 (tarif plancher)",
        loaded([pch_right()], dest="75"),
        {"PCH": "maintenu_changement_payeur"},
        [("bascule_payeur", "PCH", DS)],
        {"PCH": [(MOVE, DAY_BEFORE_DS, "departement", "59"), (DS, END, "departement", "75")]},
        says=("règles et tarifs nationaux sont appliqués",),
    ),
    Case(
        "demandes-en-cours-rejet-implicite-et-certificat",
        "CASF R241-33 (4 mois de silence valent rejet), R146-26 (certificat de moins d'un an)",
        loaded(
            [right("AAH", "1.1")],
            requests=[
                request("4.3", date(2026, 9, 15), date(2026, 9, 1)),
                request("1.1", date(2026, 5, 1), date(2025, 10, 1)),
            ],
        ),
        {"AAH": "maintenu"},
        [
            ("certificat_medical", "demandes_en_cours[1]", MOVE),
            ("rejet_implicite", "demandes_en_cours[1]", MOVE),
            ("demande_en_cours", "demandes_en_cours[0]", "2027-01-15"),
        ],
    ),
    Case(
        "orientation-scolaire-en-ete",
        "Code de l'éducation L351-1 et D351-7 : la DSDEN met en œuvre la décision",
        loaded([right("ULIS", "8.2", payeur="education_nationale")], moved_on=date(2026, 7, 15)),
        {"ULIS": "a_instruire"},
        [("scolarite", "ULIS", "2026-09-01")],
    ),
    Case(
        "ime-de-l-autre-cote-de-la-frontiere-et-creton",
        "CASF L242-4 (amendement Creton) ; l'orientation CDAPH vaut sur tout le territoire",
        loaded(
            [right("IME", "7.1", payeur="assurance_maladie", finess=FINESS_62, creton=True)],
            origin="62",
            dest="59",
        ),
        {"IME": "maintenu"},
        [("etablissement_autre_departement", "IME", MOVE)],
        says=("amendement Creton",),
    ),
    Case(
        "pch-payee-trop-longtemps-par-l-origine",
        "CASF L122-2 : l'origine paie jusqu'à la veille de l'acquisition du DS",
        loaded(
            [
                right(
                    "PCH",
                    "5.1",
                    payeur="departement",
                    pch_block={**pch(), "payee_jusquau": date(2027, 2, 28)},
                )
            ]
        ),
        {"PCH": "maintenu_changement_payeur"},
        [("versement_a_ajuster", "PCH", DAY_BEFORE_DS), ("bascule_payeur", "PCH", DS)],
        says=("double paiement",),
    ),
    Case(
        "aah-a-renouveler-dans-les-six-mois",
        "CSS L821-1 ; CASF R241-33 (4 mois pour décider)",
        loaded([right("AAH", "1.1", echeance=date(2027, 3, 31))]),
        {"AAH": "maintenu"},
        [("renouvellement", "AAH", "2026-11-30")],
        {"AAH": [(MOVE, "2027-03-31", "caf", "62")]},
    ),
    Case(
        "aide-menagere-en-etablissement-reste-a-l-origine",
        "CASF L122-2 al. 1 et L241-1",
        loaded(
            [right("AAH", "1.1")], establishment=FINESS_62, aids=[aid("M", "59_aide_menagere_ph")]
        ),
        {"AAH": "maintenu", "M": "maintenu"},
        [],
        {"M": [(MOVE, None, "departement", "59")]},
    ),
]
