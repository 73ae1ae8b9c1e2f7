"""Unit tests of the pure rules in `mdph_bridge.domain`: identifiers, people, dates, rights."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest

from mdph_bridge.domain.dates import add_months, add_years, age_on, french_date, overlaps
from mdph_bridge.domain.identifiers import (
    departement_of_postcode,
    finess_key_valid,
    finess_well_formed,
    nir_key_valid,
    nir_month_matches,
    nir_sex_matches,
    nir_well_formed,
    nir_year_matches,
)
from mdph_bridge.domain.persons import is_minor_on, is_person_name
from mdph_bridge.domain.rights import (
    ALL_TYPES,
    TYPES_BY_CATEGORY,
    Limit,
    aeeh_pch_conflict,
    allowed_rates,
    belongs_to,
    category_of,
    compensatrice_pch_conflict,
    complement_number,
    legal_limit,
    may_be_unlimited,
    may_conflict,
    needs_rate,
)

pytestmark = pytest.mark.unit


# NIR


@pytest.mark.parametrize(
    "nir",
    [
        "285035935012357",  # the published example
        "295109912611193",  # born abroad (99), python-stdnum's own example
        "285032A00412371",  # born in Corse-du-Sud: key computed with 2A → 19
        "285032B03312304",  # born in Haute-Corse: key computed with 2B → 18
        "885035935012348",  # provisional number, woman
        "785035935012301",  # provisional number, man
    ],
)
def test_nir_with_its_key_is_valid(nir: str) -> None:
    assert nir_well_formed(nir)
    assert nir_key_valid(nir)


@pytest.mark.parametrize(
    "nir",
    [
        "285035935012358",  # key off by one
        "285032A00412301",  # 2A number with the key it would have in 2B
        "285032B00412371",  # 2B number with the key it would have in 2A
        "285032A00412300",
    ],
)
def test_nir_with_a_wrong_key_is_refused(nir: str) -> None:
    assert nir_well_formed(nir)
    assert not nir_key_valid(nir)


@pytest.mark.parametrize(
    "nir",
    [
        "28503593501235",  # 14 characters
        "2850359350123570",  # 16 characters
        "585035935012357",  # sex digit 5
        "085035935012357",  # sex digit 0
        "285032a00412371",  # lower-case Corsica
        "285032C00412371",  # no 2C
        "2850359350123 7",
        "２85035935012357",  # full-width digit
        "",
    ],
)
def test_malformed_nir_is_refused_before_its_key(nir: str) -> None:
    assert not nir_well_formed(nir)
    assert not nir_key_valid(nir)


@pytest.mark.parametrize(
    ("sex_digit", "sexe", "matches"),
    [
        ("1", "M", True),
        ("2", "F", True),
        ("3", "M", True),
        ("4", "F", True),
        ("7", "M", True),
        ("8", "F", True),
        ("1", "F", False),
        ("2", "M", False),
        ("7", "F", False),
        ("8", "M", False),
    ],
)
def test_nir_sex_digit_odd_for_men_even_for_women(sex_digit: str, sexe: str, matches: bool) -> None:
    assert nir_sex_matches(f"{sex_digit}85035935012357", sexe) is matches


@pytest.mark.parametrize(
    ("year_month", "birth", "year_ok", "month_ok"),
    [
        ("8503", date(1985, 3, 14), True, True),
        ("0503", date(2005, 3, 14), True, True),
        ("0001", date(1900, 1, 1), True, True),
        ("8603", date(1985, 3, 14), False, True),
        ("8504", date(1985, 3, 14), True, False),
        ("8520", date(1985, 3, 14), True, True),  # 20 and above: month unknown
        ("8542", date(1985, 3, 14), True, True),
        ("8599", date(1985, 3, 14), True, True),
        ("8513", date(1985, 3, 14), True, False),
        ("8519", date(1985, 3, 14), True, False),
        ("8500", date(1985, 3, 14), True, False),
    ],
)
def test_nir_birth_year_and_month(
    year_month: str, birth: date, year_ok: bool, month_ok: bool
) -> None:
    nir = f"2{year_month}5935012357"

    assert nir_year_matches(nir, birth) is year_ok
    assert nir_month_matches(nir, birth) is month_ok


# FINESS


@pytest.mark.parametrize(
    "finess",
    ["590780193", "750712184", "2A0000014", "2B0000020", "970211207", "970408589", "980500029"],
)
def test_finess_with_its_luhn_key_is_valid(finess: str) -> None:
    assert finess_key_valid(finess)


@pytest.mark.parametrize("finess", ["590780194", "750712185", "2A0000015", "2B0000014"])
def test_finess_with_a_wrong_key_is_refused(finess: str) -> None:
    assert finess_well_formed(finess)
    assert not finess_key_valid(finess)


@pytest.mark.parametrize(
    "finess",
    [
        "59078019",
        "5907801930",
        "200000004",
        "000000000",
        "960000000",
        "990000000",
        "2C0000014",
        "59078019X",
        "2a0000014",
        "",
    ],
)
def test_malformed_finess_is_refused(finess: str) -> None:
    assert not finess_well_formed(finess)
    assert not finess_key_valid(finess)


# Postcodes


@pytest.mark.parametrize(
    ("code_postal", "departement"),
    [
        ("59000", "59"),
        ("62000", "62"),
        ("01000", "01"),
        ("75015", "75"),
        ("95000", "95"),
        ("20000", "2A"),  # Ajaccio
        ("20167", "2A"),
        ("20200", "2B"),  # Bastia
        ("20620", "2B"),
        ("97100", "971"),
        ("97200", "972"),
        ("97300", "973"),
        ("97400", "974"),
        ("97600", "976"),
        ("97133", "971"),  # by its digits only: the registry (territoires) says 977
    ],
)
def test_postcode_gives_its_departement(code_postal: str, departement: str) -> None:
    assert departement_of_postcode(code_postal) == departement


@pytest.mark.parametrize(
    "code_postal",
    [
        "98000",
        "98800",
        "00100",
        "96000",
        "20700",
        "20900",
        "97700",
        "97500",  # Saint-Pierre-et-Miquelon: an overseas collectivity, not a département
        "9700",
        "620000",
        "62 00",
        "",
    ],
)
def test_postcode_outside_any_departement_gives_none(code_postal: str) -> None:
    assert departement_of_postcode(code_postal) is None


# People


@pytest.mark.parametrize(
    "name",
    [
        "Camille",
        "Jean-Pierre",
        "O'Brien",
        "D’Ornano",
        "Zoé",
        "Zoe\u0301",
        "Ἀλέξανδρος",
        "Nguyễn",
        "De La Tour",
    ],
)
def test_person_name_is_accepted(name: str) -> None:
    assert is_person_name(name)


@pytest.mark.parametrize(
    "name", ["Dupont2", "Dupont_Martin", "M. Dupont", "-", " ", "'", "\u0301e", "A\tB", "", "Ⅻ"]
)
def test_person_name_is_refused(name: str) -> None:
    assert not is_person_name(name)


@pytest.mark.parametrize(
    ("birth", "day", "minor"),
    [
        (date(2008, 11, 2), date(2026, 11, 1), True),
        (date(2008, 11, 2), date(2026, 11, 2), False),
        (date(2008, 2, 29), date(2026, 2, 27), True),
        (date(2008, 2, 29), date(2026, 2, 28), False),
        (date(1985, 3, 14), date(2026, 11, 2), False),
    ],
)
def test_minor_until_the_18th_birthday(birth: date, day: date, minor: bool) -> None:
    assert is_minor_on(birth, day) is minor


# Dates


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2023, 6, 1), 6, date(2023, 12, 1)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2026, 11, 2), -12, date(2025, 11, 2)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(1, 3, 1), -12, date.min),  # a hostile date saturates instead of crashing
        (date(9999, 6, 1), 12, date.max),
    ],
)
def test_add_months_keeps_the_day_or_the_month_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_add_months_on_every_day_of_two_years() -> None:
    """The day kept, or the month's last when it has fewer days, as the calendar says."""
    for offset in range(731):  # 2023 and the leap year 2024
        day = date(2023, 1, 1) + timedelta(days=offset)
        for months in (-13, -12, -1, 1, 6, 12, 25):
            year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
            last = calendar.monthrange(year, month + 1)[1]
            assert add_months(day, months) == date(year, month + 1, min(day.day, last))


@pytest.mark.parametrize(
    "day",
    [
        date(2027, 2, 2),
        date(2026, 12, 31),
        date(2024, 2, 29),
        date(1, 1, 1),
        date(999, 10, 5),
        date(1000, 1, 1),
        date(9999, 12, 31),
    ],
)
def test_french_date_is_what_strftime_writes(day: date) -> None:
    assert french_date(day) == day.strftime("%d/%m/%Y")


def test_add_years_from_29_february() -> None:
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(1985, 3, 14), date(2026, 3, 13), 40),
        (date(1985, 3, 14), date(2026, 3, 14), 41),
        (date(2012, 4, 10), date(2026, 11, 2), 14),
    ],
)
def test_age_on(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        ((date(2024, 1, 1), date(2024, 12, 31)), (date(2024, 12, 31), date(2025, 12, 31)), True),
        ((date(2024, 1, 1), date(2024, 12, 31)), (date(2025, 1, 1), date(2025, 12, 31)), False),
        ((date(2024, 1, 1), None), (date(2030, 1, 1), date(2031, 1, 1)), True),
        ((date(2024, 1, 1), date(2024, 6, 30)), (date(2020, 1, 1), None), True),
        ((date(2024, 1, 1), date(2024, 6, 30)), (date(2025, 1, 1), None), False),
    ],
)
def test_overlaps(a: tuple[date, date | None], b: tuple[date, date | None], shared: bool) -> None:
    assert overlaps(*a, *b) is shared
    assert overlaps(*b, *a) is shared


# Rights


def test_every_type_belongs_to_its_category() -> None:
    for categorie, types in TYPES_BY_CATEGORY.items():
        assert all(category_of(type_) == categorie for type_ in types)
    assert {"1.1", "5.10", "6.7", "7.99", "12", "13.99"} <= ALL_TYPES
    assert len(ALL_TYPES) == sum(len(types) for types in TYPES_BY_CATEGORY.values())


@pytest.mark.parametrize(
    ("type_", "categorie", "belongs"),
    [
        ("5.1", "5", True),
        ("5.1", "1", False),
        ("12", "12", True),
        ("1.1", "11", False),
        ("10.1", "1", False),
        ("99", "9", False),
    ],
)
def test_belongs_to(type_: str, categorie: str, belongs: bool) -> None:
    assert belongs_to(type_, categorie) is belongs


def test_complement_numbers() -> None:
    assert [complement_number(f"6.{n}") for n in range(1, 8)] == [None, 1, 2, 3, 4, 5, 6]
    assert complement_number("5.1") is None


@pytest.mark.parametrize(
    ("type_", "needed"),
    [
        ("1.1", True),
        ("1.2", True),
        ("6.1", True),
        ("6.5", True),
        ("4.2", True),
        ("4.3", True),
        ("4.1", False),
        ("5.1", False),
        ("12", False),
        ("7.7", False),
    ],
)
def test_needs_rate(type_: str, needed: bool) -> None:
    assert needs_rate(type_) is needed


@pytest.mark.parametrize(
    ("type_", "rates"),
    [
        ("1.1", (">=80",)),
        ("1.2", ("50-79",)),
        ("4.2", (">=80",)),
        ("4.3", ("<50", "50-79")),
        ("6.1", ("50-79", ">=80")),
        ("6.3", ("50-79", ">=80")),
        ("12", ("<50", "50-79", ">=80")),
    ],
)
def test_allowed_rates(type_: str, rates: tuple[str, ...]) -> None:
    assert allowed_rates(type_) == rates


@pytest.mark.parametrize(
    ("type_", "taux", "unlimited"),
    [
        ("1.1", ">=80", True),
        ("1.2", "50-79", False),
        ("4.2", ">=80", True),
        ("4.2", "50-79", False),
        ("4.1", None, False),
        ("4.3", "50-79", False),
        ("6.1", ">=80", True),
        ("6.1", "50-79", False),
        ("6.2", ">=80", False),
        ("12", None, True),
        ("5.1", None, True),
        ("5.8", None, True),
        ("7.7", None, False),
        ("13.3", None, False),
    ],
)
def test_may_be_unlimited(type_: str, taux: str | None, unlimited: bool) -> None:
    assert may_be_unlimited(type_, taux) is unlimited


@pytest.mark.parametrize(
    ("type_", "taux", "limit"),
    [
        ("1.1", ">=80", Limit(years=10)),
        ("1.2", "50-79", Limit(years=5)),
        ("1.1", None, None),
        ("4.1", None, Limit(years=20)),
        ("5.1", None, Limit(years=10)),
        ("6.1", ">=80", Limit(until_age=20)),
        ("6.1", "50-79", Limit(years=5, until_age=20)),
        ("6.1", None, None),
        ("6.4", None, Limit(years=5, until_age=20)),
        ("12", None, Limit(years=10)),
        ("7.1", None, Limit(years=10)),
    ],
)
def test_legal_limit(type_: str, taux: str | None, limit: Limit | None) -> None:
    assert legal_limit(type_, taux) == limit


def test_latest_end_takes_the_earlier_of_years_and_age() -> None:
    limit = Limit(years=5, until_age=20)

    assert limit.latest_end(date(2024, 9, 1), date(2012, 4, 10)) == date(2029, 9, 1)
    assert limit.latest_end(date(2025, 1, 1), date(2008, 1, 15)) == date(2028, 1, 15)
    assert limit.latest_end(date(2025, 1, 1), None) == date(2030, 1, 1)
    assert Limit(until_age=20).latest_end(date(2025, 1, 1), None) is None


@pytest.mark.parametrize(
    ("a", "b", "aeeh_pch", "compensatrice_pch"),
    [
        ("6.3", "5.1", True, False),
        ("5.9", "6.7", True, False),
        ("6.1", "5.1", False, False),
        ("6.3", "5.2", False, False),
        ("2.2", "5.1", False, True),
        ("5.4", "2.1", False, True),
        ("2.2", "1.1", False, False),
        ("5.1", "5.2", False, False),
    ],
)
def test_rights_that_exclude_each_other(
    a: str, b: str, aeeh_pch: bool, compensatrice_pch: bool
) -> None:
    assert aeeh_pch_conflict(a, b) is aeeh_pch
    assert compensatrice_pch_conflict(a, b) is compensatrice_pch


def test_only_rights_that_may_conflict_are_in_a_conflict() -> None:
    """The rules compare only such rights: a conflict of another would go unseen."""
    in_a_conflict = {
        type_
        for a in ALL_TYPES
        for b in ALL_TYPES
        if aeeh_pch_conflict(a, b) or compensatrice_pch_conflict(a, b)
        for type_ in (a, b)
    }
    assert in_a_conflict == {type_ for type_ in ALL_TYPES if may_conflict(type_)}
