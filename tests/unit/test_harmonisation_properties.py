"""The mapping's invariant over random dossiers: no active right dropped or shortened, exactly one
outcome per right, and a payer named for every day between the move and the right's end."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from harmonisation_cases import FINESS_59, FINESS_62, aid, loaded, pch, request, right
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdph_bridge.domain.harmonisation import ALERT_CODES, OUTCOMES, harmonise, summary
from mdph_bridge.rulebook import load_rulebook

pytestmark = pytest.mark.unit
BOOK = load_rulebook()
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Every TRE_R420 type (docs/DOMAIN.md §3.1), written here, not imported from the code under test.
TYPES = (
    "1.1", "1.2", "2.1", "2.2", "3", "4.1", "4.2", "4.3",
    *(f"5.{n}" for n in range(1, 11)),
    *(f"6.{n}" for n in range(1, 8)),
    *(f"7.{n}" for n in (*range(1, 14), 99)),
    *(f"8.{n}" for n in range(1, 11)),
    "9", "10.1", "10.2",
    *(f"11.{n}" for n in range(1, 8)),
    "12",
    *(f"13.{n}" for n in (*range(1, 6), 99)),
    "14",
)  # fmt: skip
PAYERS = ("caf", "msa", "departement", "assurance_maladie", "education_nationale", "etat", "autre")
# Who pays what (docs/DOMAIN.md §3.2), as the dossier schema requires it.
LEGAL_PAYERS = {
    "1": ("caf", "msa"),
    "2": ("departement",),
    "5": ("departement",),
    "6": ("caf", "msa"),
}
CODES = ("59", "62", "02", "60", "80", "75")  # 75 has no rule set
AIDS = {"59": ("59_aide_menagere_ph", "59_transport_adapte"), "62": ("62_aide_menagere",)}
DAYS = st.dates(date(2018, 1, 1), date(2036, 12, 31))
ONE_DAY = timedelta(days=1)


@st.composite
def rights(draw: st.DrawFn, index: int, origin: str, moved_on: date) -> dict[str, Any]:
    type_ = draw(st.sampled_from(TYPES))
    opening = draw(DAYS)
    end = draw(st.none() | st.dates(opening + ONE_DAY, opening + timedelta(days=3700)))
    ended = end is not None and end < moved_on
    # The schema accepts `echu` only for a right that ended before the move.
    status = draw(
        st.sampled_from(("actif", "suspendu", "echu") if ended else ("actif", "suspendu"))
    )
    block = None
    if type_.startswith("5."):
        block = pch(
            prestataire=draw(st.integers(0, 300)),
            aidant=draw(st.integers(0, 200)),
            emploi_direct=draw(st.integers(0, 200)),
            mandataire=draw(st.integers(0, 100)),
            tarif=draw(st.none() | st.floats(15, 40).map(lambda r: round(r, 2))),
            payeur=draw(st.sampled_from((origin, *CODES))),
        )
    return right(
        f"D{index}",
        type_,
        payeur=draw(st.sampled_from(LEGAL_PAYERS.get(type_.split(".")[0], PAYERS))),
        ouverture=opening,
        echeance=end,
        statut=status,
        finess=draw(st.none() | st.sampled_from((FINESS_59, FINESS_62))),
        pch_block=block,
        creton=draw(st.booleans()),
    )


@st.composite
def dossiers(draw: st.DrawFn) -> dict[str, Any]:
    origin = draw(st.sampled_from(CODES))
    dest = draw(st.sampled_from([c for c in CODES if c != origin]))
    moved_on = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    count = draw(st.integers(1, 8))
    requests = [
        request(
            draw(st.sampled_from(TYPES)), lodged, draw(st.dates(lodged - timedelta(400), lodged))
        )
        for lodged in draw(st.lists(st.dates(moved_on - timedelta(400), moved_on), max_size=3))
    ]
    aids = (
        [
            aid(f"A{i}", code, draw(st.none() | st.dates(date(2025, 1, 2), date(2032, 1, 1))))
            for i, code in enumerate(
                draw(st.lists(st.sampled_from(AIDS.get(origin, ())), max_size=2))
            )
        ]
        if origin in AIDS
        else []
    )
    return loaded(
        [draw(rights(i, origin, moved_on)) for i in range(count)],
        origin=origin,
        dest=dest,
        moved_on=moved_on,
        motif=draw(st.sampled_from(("demenagement", "domicile_secours", "demande_usager"))),
        establishment=draw(st.none() | st.sampled_from((FINESS_59, FINESS_62))),
        requests=requests,
        aids=aids,
    )


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _is_active(source: dict[str, Any], moved_on: date) -> bool:
    """Running on the move day, by its dates alone."""
    end = source["date_echeance"]
    return end is None or end >= moved_on


@SETTINGS
@given(dossiers())
def test_no_active_right_is_dropped_shortened_or_left_without_payer(
    dossier: dict[str, Any],
) -> None:
    moved_on = dossier["transfert"]["date_demenagement"]
    report = harmonise(dossier, BOOK)

    # Exactly one outcome per right, in the dossier's order, and the counts add up.
    assert [r["identifiant"] for r in report["droits"]] == [
        r["identifiant"] for r in dossier["droits"]
    ]
    assert all(r["resultat"] in OUTCOMES for r in report["droits"])
    assert sum(report["resultats"].values()) == len(dossier["droits"]) + len(
        dossier["aides_extra_legales"]
    )
    for source, outcome in zip(dossier["droits"], report["droits"], strict=True):
        assert outcome["motifs"], "every outcome gives its reasons"
        if not _is_active(source, moved_on):
            assert outcome["resultat"] == "echu"
            assert outcome["payeurs"] == []
            continue
        # Not dropped, not shortened: the CDAPH's end date is kept as is.
        assert outcome["resultat"] not in ("echu", "non_transferable")
        assert _day(outcome["valable_jusquau"]) == source["date_echeance"]
        # A payer for every day from the move (or the opening) to the end, with no gap.
        periods = outcome["payeurs"]
        assert periods
        assert _day(periods[0]["du"]) == max(moved_on, source["date_ouverture"])
        for before, after in pairwise(periods):
            assert _day(before["au"]) is not None
            assert _day(after["du"]) == _day(before["au"]) + ONE_DAY
        assert _day(periods[-1]["au"]) == source["date_echeance"]
        for period in periods:
            assert period["payeur"]["organisme"]
            assert period["payeur"]["libelle"]
            assert _day(period["au"]) is None or _day(period["au"]) >= _day(period["du"])
        # Who pays is who the law says: a département for PCH and ACTP, switching only on the
        # day the domicile de secours moves; the family fund of the new address for AAH, AEEH.
        category = source["type"].split(".")[0]
        kinds = {p["payeur"]["organisme"] for p in periods}
        if category in ("2", "5"):
            assert outcome["resultat"] == "maintenu_changement_payeur"
            assert kinds == {"departement"}
        if category in ("1", "6"):
            assert kinds <= {"caf", "msa"}
            assert {p["payeur"]["departement"] for p in periods} == {
                dossier["transfert"]["mdph_destination"]
            }
        if len(periods) == 2:
            assert _day(periods[1]["du"]) == _domicile_day(dossier)
            assert periods[1]["payeur"]["departement"] == dossier["transfert"]["mdph_destination"]


@SETTINGS
@given(dossiers())
def test_an_extra_legal_aid_is_never_paid_twice(dossier: dict[str, Any]) -> None:
    report = harmonise(dossier, BOOK)

    for outcome in report["aides_extra_legales"]:
        origin_pays = [p for p in outcome["payeurs"] if p["payeur"]["organisme"] == "departement"]
        assert all(
            p["payeur"]["departement"] == dossier["transfert"]["mdph_origine"] for p in origin_pays
        )
        if outcome["resultat"] == "a_instruire":
            # The equivalent opens the day after the origin's aid has stopped, not before.
            opening = next(
                date.fromisoformat(a["date_limite"])
                for a in report["alertes"]
                if a["code"] == "aide_equivalente" and a["reference"] == outcome["identifiant"]
            )
            assert all(_day(p["au"]) is not None and _day(p["au"]) < opening for p in origin_pays)
        if outcome["resultat"] == "maintenu":
            assert dossier["beneficiaire"]["etablissement_accueil_finess"] is not None


def _domicile_day(dossier: dict[str, Any]) -> date:
    """Move + 3 months (the domicile de secours), or the move day itself for that motif."""
    moved_on = dossier["transfert"]["date_demenagement"]
    if dossier["transfert"]["motif"] == "domicile_secours":
        return moved_on
    month = moved_on.month + 2
    year, month = moved_on.year + month // 12, month % 12 + 1
    for day in range(moved_on.day, 0, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError(moved_on)


@SETTINGS
@given(dossiers())
def test_every_alert_has_a_known_code_and_a_date_not_before_the_move(
    dossier: dict[str, Any],
) -> None:
    moved_on = dossier["transfert"]["date_demenagement"]
    report = harmonise(dossier, BOOK)

    for alert in report["alertes"]:
        assert alert["code"] in ALERT_CODES
        assert date.fromisoformat(alert["date_limite"]) >= moved_on
        assert alert["message"]
    assert [a["date_limite"] for a in report["alertes"]] == sorted(
        a["date_limite"] for a in report["alertes"]
    )
    assert summary(report)["resultats"] == report["resultats"]
