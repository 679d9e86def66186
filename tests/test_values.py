"""Parsing of the values users type: dates, amounts, emails, ratings. The clock is frozen."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from helpers import FROZEN_NOW, freeze

from crmcli import values
from crmcli.errors import InvalidInput


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


# --- dates -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed, stored",
    [
        ("2024-05-13", "2024-05-13"),
        ("2024-05-13T10:30", "2024-05-13T10:30:00"),
        ("2024-05-13T10:30:15", "2024-05-13T10:30:15"),
        ("2024-05-13 10:30:15", "2024-05-13T10:30:15"),
        ("2024-05-13T10:30:15.987654", "2024-05-13T10:30:15"),
        ("today", "2024-06-15"),
        ("TODAY", "2024-06-15"),
        ("  yesterday ", "2024-06-14"),
        ("now", "2024-06-15T12:00:00"),
        ("2024-06-15", "2024-06-15"),  # today as a date is not "in the future"
        ("2024-06-15T12:00:00", "2024-06-15T12:00:00"),  # exactly now
    ],
)
def test_when_accepts_iso_dates_and_words(typed, stored):
    assert values.when(typed, "at") == stored


def test_when_defaults_to_now():
    assert values.when(None, "at") == "2024-06-15T12:00:00"
    assert values.when("  ", "at") == "2024-06-15T12:00:00"
    assert values.when(None, "at", default_now=False) is None


def test_when_converts_a_time_zone_to_local_time():
    typed = "2024-05-13T10:30:00+07:00"
    expected = datetime(2024, 5, 13, 3, 30, tzinfo=UTC).astimezone().replace(tzinfo=None)
    assert values.when(typed, "at") == expected.isoformat(timespec="seconds")
    assert values.when("2024-05-13T03:30:00Z", "at") == expected.isoformat(timespec="seconds")


@pytest.mark.parametrize("typed", ["13/05/2024", "2024-02-30", "2023-02-29", "2024-13-01", "2024-5-13",
                                   "last tuesday", "2024-05-13T25:00", "tomorrowish", "12345"])
def test_when_rejects_what_is_not_an_iso_date_and_names_field_and_value(typed):
    with pytest.raises(InvalidInput) as caught:
        values.when(typed, "at")
    assert caught.value.field == "at"
    assert "at:" in caught.value.message and repr(typed) in caught.value.message
    assert "not a date" in caught.value.message


@pytest.mark.parametrize("typed", ["2024-06-16", "2024-06-15T12:00:01", "2030-01-01", "2025-01-01T00:00"])
def test_when_rejects_the_future(typed):
    with pytest.raises(InvalidInput, match="is in the future") as caught:
        values.when(typed, "at")
    assert repr(typed) in caught.value.message


def test_when_future_allowed_when_asked():
    assert values.when("2030-01-01", "until", allow_future=True) == "2030-01-01"


def test_when_future_with_time_zone_is_judged_in_local_time():
    # One minute after the frozen local "now", written in UTC.
    moment = FROZEN_NOW.astimezone().astimezone(UTC) + timedelta(minutes=1)
    with pytest.raises(InvalidInput, match="future"):
        values.when(moment.isoformat(), "at")


def test_day_parses_dates_and_cuts_date_times():
    assert values.day("2024-05-13", "since") == date(2024, 5, 13)
    assert values.day("2024-05-13T23:59:59", "since") == date(2024, 5, 13)
    assert values.day("today", "since") == date(2024, 6, 15)
    assert values.day("yesterday", "until") == date(2024, 6, 14)
    assert values.day(None, "since") is None
    assert values.day("", "since") is None
    with pytest.raises(InvalidInput, match=r"since: .*'2024-02-30'"):
        values.day("2024-02-30", "since")


# --- amounts -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed, cents",
    [("1234.5", 123450), ("1234.50", 123450), ("0", 0), ("0.00", 0), ("0.01", 1), ("49.90", 4990),
     (" 12 ", 1200), ("1.500", 150), ("+5", 500), ("1e3", 100000), ("0.1", 10), ("0.2", 20),
     (Decimal("19.99"), 1999), (7, 700), ("1000000000", 100_000_000_000), ("999999999.99", 99_999_999_999)],
)
def test_amounts_become_exact_integer_cents(typed, cents):
    result = values.amount_to_cents(typed)
    assert result == cents
    assert type(result) is int


def test_amounts_sum_exactly():
    total = values.amount_to_cents("0.1") + values.amount_to_cents("0.2")
    assert total == 30
    assert values.cents_to_amount(total) == Decimal("0.30")
    assert str(values.cents_to_amount(total)) == "0.30"  # not 0.30000000000000004
    assert str(values.cents_to_amount(123450)) == "1234.50"
    assert str(values.cents_to_amount(0)) == "0.00"
    assert values.cents_to_amount(None) is None


@pytest.mark.parametrize(
    "typed, problem",
    [
        ("12.345", "more than 2 decimal places"),
        ("0.001", "more than 2 decimal places"),
        # More significant digits than Decimal's default precision: must not be rounded to 1.00.
        ("1.0000000000000000000000000000001", "more than 2 decimal places"),
        ("1e-999999999", "more than 2 decimal places"),
        ("-5", "must not be negative"),
        ("-0.01", "must not be negative"),
        ("abc", "is not a number"),
        ("12,50", "is not a number"),
        ("$12", "is not a number"),
        ("1 000", "is not a number"),
        ("NaN", "is not a finite number"),
        ("nan", "is not a finite number"),
        ("Infinity", "is not a finite number"),
        ("-Infinity", "is not a finite number"),
        ("1e30", "is more than 1000000000.00"),
        ("46116860184273879.05", "is more than 1000000000.00"),
        # The most one interaction may carry: 92 million of them still sum within 64 bits.
        ("1000000000.01", "is more than 1000000000.00"),
        ("5e16", "is more than 1000000000.00"),
        ("1e999999999", "is more than 1000000000.00"),  # must not overflow Decimal arithmetic into a traceback
    ],
)
def test_bad_amounts_are_rejected_naming_field_and_value(typed, problem):
    with pytest.raises(InvalidInput) as caught:
        values.amount_to_cents(typed, "amount")
    assert problem in caught.value.message
    assert caught.value.message.startswith("amount: ")
    assert repr(typed) in caught.value.message


def test_missing_amount_is_none():
    assert values.amount_to_cents(None) is None
    assert values.amount_to_cents("  ") is None


# --- emails, ratings, text, choices --------------------------------------------------------------

@pytest.mark.parametrize("typed, stored", [("a@b.co", "a@b.co"), ("  Linh.Tran@Example.VN ", "Linh.Tran@Example.VN"),
                                           ("x+tag@mail.example.com", "x+tag@mail.example.com"), ("", None),
                                           (None, None)])
def test_valid_emails(typed, stored):
    assert values.email(typed) == stored


@pytest.mark.parametrize("typed", ["plainaddress", "a@b", "a@@b.co", "a b@c.co", "@b.co", "a@.", "a@b.", "a@b.co."])
def test_invalid_emails(typed):
    with pytest.raises(InvalidInput, match="not a valid email address") as caught:
        values.email(typed)
    assert caught.value.message.startswith("email: ") and repr(typed) in caught.value.message


@pytest.mark.parametrize("typed, stored", [("1", 1), ("5", 5), (3, 3), (" 4 ", 4), (None, None), ("", None)])
def test_valid_ratings(typed, stored):
    assert values.rating(typed) == stored


@pytest.mark.parametrize("typed, problem", [("0", "from 1 to 5"), ("6", "from 1 to 5"), ("-1", "from 1 to 5"),
                                            ("4.5", "whole number"), ("good", "whole number")])
def test_invalid_ratings(typed, problem):
    with pytest.raises(InvalidInput, match=problem) as caught:
        values.rating(typed)
    assert caught.value.message.startswith("rating: ") and repr(typed) in caught.value.message


def test_text_strips_normalises_and_requires():
    decomposed = "Nguye\u0302\u0303n"  # NFD: e + circumflex + tilde
    assert values.text(f"  {decomposed}  ", "name") == "Nguyễn"
    assert values.text("   ", "note") is None
    with pytest.raises(InvalidInput, match="name: must not be empty"):
        values.text("   ", "name", required=True)
    with pytest.raises(InvalidInput, match="name: is required"):
        values.text(None, "name", required=True)
    with pytest.raises(InvalidInput, match="NUL"):
        values.text("a\x00b", "note")


def test_choice_and_fold():
    assert values.choice(" Purchase ", "type", ("purchase", "call")) == "purchase"
    with pytest.raises(InvalidInput, match=r"type: must be one of purchase, call \('sale'\)"):
        values.choice("sale", "type", ("purchase", "call"))
    assert values.fold("NGUYỄN Văn") == "nguyễn văn"
    assert values.fold("Nguye\u0302\u0303n") == "nguyễn"
    assert values.fold("nguyễn") != values.fold("nguyen")  # diacritics are kept


def test_the_largest_amount_keeps_any_realistic_total_within_64_bits():
    assert values.MAX_AMOUNT_CENTS == 100_000_000_000
    # 92 million interactions at the maximum still sum within SQLite's 64-bit integers.
    assert 92_000_000 * values.MAX_AMOUNT_CENTS < 2**63


# --- email keys: the one rule for "the same email" ------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("Ann@Example.COM", "ann@example.com"),  # ASCII case, in both parts
    ("info@straße.de", "info@STRAßE.DE"),  # same domain, other case
    ("info@straße.de", "info@xn--strae-oqa.de"),  # the domain's ASCII (A-label) form
    ("info@straße.de", "info@XN--STRAE-OQA.DE"),
    ("info@BÜCHER.example", "info@bücher.example"),  # IDNA maps the domain's case
    ("e\u0301lise@example.com", "\u00e9lise@example.com"),  # NFC: one letter typed two ways
])
def test_the_same_email_as_mail_systems_see_it(a, b):
    assert values.email_key(a) == values.email_key(b)


@pytest.mark.parametrize("a, b", [
    ("info@straße.de", "info@strasse.de"),  # IDNA 2008: ß is its own letter, not ss
    ("\u212aate@example.com", "kate@example.com"),  # KELVIN SIGN is not the letter K
    ("\u212aate@example.com", "Kate@example.com"),
    ("\u0430nn@example.com", "ann@example.com"),  # Cyrillic а looks like Latin a
    ("ann@ex\u0430mple.com", "ann@example.com"),
    ("\uff41nn@example.com", "ann@example.com"),  # a full-width letter in the local part
    ("ÉLISE@example.com", "élise@example.com"),  # beyond ASCII the local part is compared exactly
    ("stra\u00dfe@example.com", "strasse@example.com"),
    ("ann@example.com", "ann.@example.com"),
])
def test_look_alike_emails_are_different_people(a, b):
    assert values.email_key(a) != values.email_key(b)


def test_an_email_keeps_a_kelvin_sign_as_typed():
    # text() would have NFC-normalised it to K, and then it was Kate.
    assert values.email("\u212aate@example.com") == "\u212aate@example.com"
    assert values.email("e\u0301lise@Example.com") == "\u00e9lise@Example.com"


@pytest.mark.parametrize("typed", ["a@b..c", "a@foo_bar.com", "a@\u2615.ws", "no-at-sign", "a@" + "é" * 300 + ".com"])
def test_an_email_key_exists_for_any_text(typed):
    """Not valid IDNA (or not an email at all, from another program): compared exactly but for ASCII case."""
    key = values.email_key(typed)
    assert key == values.email_key(typed.upper() if typed.isascii() else typed)


# --- the folded forms people are found by (search_fold, name_key, phone_digits) ------------------------

@pytest.mark.parametrize("typed, folded", [
    # Vietnamese: stacked marks, the horn (ơ, ư) and đ, which does not decompose
    ("Nguyễn Văn An", "nguyen van an"), ("Trần Thị Hương", "tran thi huong"), ("Đặng Đức", "dang duc"),
    ("Nguye\u0302\u0303n", "nguyen"),  # typed decomposed
    # Polish: ł does not decompose, the others do
    ("Łucja Wałęsa", "lucja walesa"), ("Źdźbło Ślęża", "zdzblo sleza"),
    # German: ß and ẞ are ss; ä ö ü are a o u
    ("Jürgen Straße", "jurgen strasse"), ("GROẞMANN", "grossmann"), ("Öztürk-Schäfer", "ozturk schafer"),
    # Turkish: dotless ı and the dotted capital İ
    ("Işık Yılmaz", "isik yilmaz"), ("İSTANBUL", "istanbul"), ("Çağrı", "cagri"),
    # Nordic and Icelandic: ø æ å, þ ð
    ("Søren Ærø", "soren aero"), ("Åsa Ångström", "asa angstrom"), ("Þór Guðmundsson", "thor gudmundsson"),
    # French, Catalan, Irish: œ, the middle dot, apostrophes
    ("Œuvre Français", "oeuvre francais"), ("Col·lecció", "colleccio"), ("O'Brien", "obrien"), ("D’Arcy", "darcy"),
    # width, punctuation and spacing
    ("ＮＧＵＹＥＮ", "nguyen"), ("  Ann\t\u00a0Lee-Tan  ", "ann lee tan"),
    ("ann.lee+x@Example.COM", "ann lee x example com"),
    # other scripts are kept (only their nonspacing marks go)
    ("Ελένη", "ελενη"), ("Мария", "мария"), ("王秀英", "王秀英"),
])
def test_search_fold_is_what_people_type(typed, folded):
    assert values.search_fold(typed) == folded


def test_the_fold_of_every_ascii_text_is_the_general_rule():
    """The ASCII fast path gives what the general path gives (an é at the end takes the general one)."""
    text = "".join(map(chr, range(32, 127)))
    assert values.search_fold(text) == values.search_fold(text + "é")[:-2].rstrip()


def test_name_key_ignores_word_order_punctuation_and_accents():
    assert values.name_key("Nguyễn Văn An") == values.name_key("an, NGUYEN van") == "an nguyen van"
    assert values.name_key("") == values.name_key(None) == values.name_key("---") == ""


@pytest.mark.parametrize("typed, digits", [
    ("+63 917 555 0101", "639175550101"), ("639175550101", "639175550101"), ("0063 917-555-0101", "639175550101"),
    ("(+63) 917.555.0101", "639175550101"), ("0917 555 0101", "9175550101"), ("+0 12", "012"),
    ("０９１７ ５５５ ０１０１", "9175550101"), ("call me", ""), (None, ""),
])
def test_phone_digits_drop_formatting_and_prefixes(typed, digits):
    assert values.phone_digits(typed) == digits
    assert values.phone_key(typed) == (digits[::-1] or None)


@pytest.mark.parametrize("typed, phone", [
    ("+63 917 555 0101", True), ("0917-555-0101", True), ("(02) 8123 4567", True), ("1234567", True),
    ("123456", False), ("+63 917 ext 5", False), ("Ann 5550101", False), ("", False),
])
def test_looks_like_phone(typed, phone):
    assert values.looks_like_phone(typed) is phone
