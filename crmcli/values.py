"""Parsing and checking the values users type: dates, amounts, emails, ratings, and the folded
forms names and phone numbers are found by.

Every function takes the field's name so that an error says which field was
wrong and with what value. Used by the commands and by import alike.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, overload

from crmcli.errors import InvalidInput

# Amounts are stored as integer minor units (cents): exact, never a drifting float.
CURRENCY_DECIMALS = 2
_MINOR_PER_MAJOR = 10**CURRENCY_DECIMALS
# The most one interaction may carry: 1,000,000,000.00. SQLite adds integers in 64 bits
# and fails with "integer overflow" beyond 2**63 - 1 cents; at this bound 92 million
# interactions, each at the maximum, still add up, so no realistic total can overflow.
# No small business takes a billion in one sale. migrations.M005 holds other programs to it too.
MAX_AMOUNT_CENTS = 1_000_000_000 * _MINOR_PER_MAJOR

# Deliberately simple: one @, something on each side, a dot in the domain, no spaces.
# Full RFC 5322 validation rejects nothing a small business would type by mistake.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def now() -> datetime:
    """The local time, to the second. Tests replace this to freeze the clock."""
    return datetime.now().replace(microsecond=0)


@overload
def text(value: str | None, field: str, *, required: Literal[True]) -> str: ...
@overload
def text(value: str | None, field: str, *, required: bool = False) -> str | None: ...
def text(value: str | None, field: str, *, required: bool = False) -> str | None:
    """Trim a free-text value; empty becomes None (or an error when required).

    Anything else is kept as typed, control characters included (an escape sequence pasted
    into a note, a tab, a right-to-left mark): it comes back exactly in JSON, and in CSV but
    for the apostrophe before a formula-like cell; it is never interpreted. Where text meets
    a terminal (tables, messages) output.terminal_text shows such characters as \\xNN.
    NUL alone is refused: SQLite tools and C programs that read the file would cut the text
    there.
    """
    if value is None:
        if required:
            raise InvalidInput(field, value, "is required")
        return None
    if "\x00" in value:
        raise InvalidInput(field, value, "must not contain NUL characters")
    cleaned = unicodedata.normalize("NFC", value.strip())
    if not cleaned:
        if required:
            raise InvalidInput(field, value, "must not be empty")
        return None
    return cleaned


def email(value: str | None, field: str = "email") -> str | None:
    """An email as typed (trimmed, composed), or None. What makes two emails one is email_key."""
    if value is not None and "\x00" in value:
        raise InvalidInput(field, value, "must not contain NUL characters")
    cleaned = _compose(value.strip()) if value is not None else ""
    if not cleaned:
        return None
    if not _EMAIL.match(cleaned):
        raise InvalidInput(field, value, "is not a valid email address")
    return cleaned


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MAX_DOMAIN_LENGTH = 253  # DNS's limit; a longer domain cannot be IDNA and is not worth encoding


def email_key(value: str) -> str:
    """The one rule for "the same email" (customers.email_key, REF, imports, duplicates).

    As mail systems compare: the domain case-insensitively per IDNA 2008 with UTS 46
    non-transitional mapping, as its ASCII form ('info@STRAßE.de' -> 'info@xn--strae-oqa.de',
    so ß stays distinct from ss: Python's own 'idna' codec is IDNA 2003 and would make
    them one); the local part exactly as typed but composed (NFC) and with A-Z folded to
    a-z, the one case folding mail servers apply in practice. Look-alikes stay apart:
    Cyrillic а, a full-width ａ, a Kelvin sign and non-ASCII case (É, é) never become
    another letter, so they never merge two people. Total: any text gets a key (a domain
    that is not valid IDNA, or text from another program, is compared exactly but for
    ASCII case).
    """
    composed = _compose(value)
    local, at, domain = composed.rpartition("@")
    if not at:
        return composed.translate(_ASCII_LOWER)
    return f"{local.translate(_ASCII_LOWER)}@{_domain_key(domain)}"


def _domain_key(domain: str) -> str:
    if domain.isascii() or len(domain) > _MAX_DOMAIN_LENGTH:
        return domain.translate(_ASCII_LOWER)
    # Imported here: only a non-ASCII domain pays for the IDNA tables (a few ms).
    import idna

    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii").translate(_ASCII_LOWER)
    except (idna.IDNAError, UnicodeError):
        return domain.translate(_ASCII_LOWER)


def _compose(value: str) -> str:
    """NFC, except that no character becomes a different one.

    NFC joins a letter and an accent typed separately (e + U+0301 = é), which is the
    same text. It also replaces a few characters outright, "canonical singletons" such
    as the KELVIN SIGN (to K), OHM SIGN (to Ω) and ANGSTROM SIGN (to Å): in an email
    that would make a look-alike address someone else's, so those are kept as typed.
    """
    if value.isascii():
        return value
    parts: list[str] = []
    start = 0
    for index, char in enumerate(value):
        if _is_singleton(char):
            parts.extend((unicodedata.normalize("NFC", value[start:index]), char))
            start = index + 1
    parts.append(unicodedata.normalize("NFC", value[start:]))
    return "".join(parts)


def _is_singleton(char: str) -> bool:
    decomposition = unicodedata.decomposition(char)
    return bool(decomposition) and not decomposition.startswith("<") and " " not in decomposition


def amount_to_cents(value: str | Decimal | int | float | None, field: str = "amount") -> int | None:
    """'1234.5' -> 123450. Rejects non-numbers, too many decimals, negatives and more than MAX_AMOUNT_CENTS."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(field, value, "is not a number") from None
    if not number.is_finite():
        raise InvalidInput(field, value, "is not a finite number")
    if number < 0:
        raise InvalidInput(field, value, "must not be negative (record a refund instead)")
    if number.is_zero():
        return 0
    # Count on the digits, not with Decimal arithmetic: that rounds to 28 significant
    # digits (1.0000000000000000000000000000001 would pass as 1.00) and overflows on 1e999999999.
    parts = number.as_tuple()
    digits = list(parts.digits)
    exponent = parts.exponent
    assert isinstance(exponent, int)  # 'n', 'N' and 'F' mark NaN and infinity, rejected above
    while digits[-1] == 0 and exponent < -CURRENCY_DECIMALS:
        digits.pop()
        exponent += 1
    if exponent < -CURRENCY_DECIMALS:
        raise InvalidInput(field, value, f"has more than {CURRENCY_DECIMALS} decimal places")
    too_large = f"is more than {cents_to_amount(MAX_AMOUNT_CENTS)}, the most crm records in one amount"
    if number.adjusted() > 20:  # before 1e999999999 becomes an integer of a billion digits
        raise InvalidInput(field, value, too_large)
    cents = int("".join(map(str, digits))) * 10 ** (exponent + CURRENCY_DECIMALS)
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidInput(field, value, too_large)
    return cents


def cents_to_amount(cents: int | None) -> Decimal | None:
    """123450 -> Decimal('1234.50'): exact, and prints with the currency's decimals."""
    if cents is None:
        return None
    return Decimal(cents).scaleb(-CURRENCY_DECIMALS)


@overload
def when(value: str | None, field: str, *, allow_future: bool = ..., default_now: Literal[True] = ...) -> str: ...
@overload
def when(value: str | None, field: str, *, allow_future: bool = ..., default_now: bool) -> str | None: ...


def when(value: str | None, field: str, *, allow_future: bool = False, default_now: bool = True) -> str | None:
    """A moment: ISO 8601 date or date-time, 'now', 'today' or 'yesterday'.

    Returns 'YYYY-MM-DD' for a date and 'YYYY-MM-DDTHH:MM:SS' (local time) for a
    date-time; both sort correctly as text. Time zones are converted to local time.
    """
    if value is None or not value.strip():
        return now().isoformat() if default_now else None
    word = value.strip().lower()
    current = now()
    if word == "now":
        return current.isoformat()
    if word in ("today", "yesterday"):
        day = current.date() - timedelta(days=1 if word == "yesterday" else 0)
        return day.isoformat()
    stamp = _parse_iso(value.strip(), field)
    if isinstance(stamp, datetime):
        result, moment = stamp.isoformat(timespec="seconds"), stamp
    else:
        result, moment = stamp.isoformat(), datetime.combine(stamp, datetime.min.time())
    if not allow_future and moment > current:
        raise InvalidInput(field, value, "is in the future")
    return result


def day(value: str | None, field: str) -> date | None:
    """A calendar date: ISO 8601 date (a date-time is cut to its date), 'today' or 'yesterday'."""
    if value is None or not value.strip():
        return None
    word = value.strip().lower()
    if word in ("today", "now"):
        return now().date()
    if word == "yesterday":
        return now().date() - timedelta(days=1)
    stamp = _parse_iso(value.strip(), field)
    return stamp.date() if isinstance(stamp, datetime) else stamp


# Dates crm accepts. Before 1900 is a typing or spreadsheet slip (Excel's day 0 is 1899-12-30), not a
# customer; the upper end leaves room for a 100-year horizon and 120 periods of a summary, so no date
# computed from an accepted one falls off Python's calendar (years 1-9999).
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9899, 12, 31)


def _parse_iso(value: str, field: str) -> date | datetime:
    try:
        if len(value) == 10:
            moment: date | datetime = date.fromisoformat(value)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                moment = moment.astimezone().replace(tzinfo=None)
            moment = moment.replace(microsecond=0)
    except ValueError:
        raise InvalidInput(field, value,
                           "is not a date; use YYYY-MM-DD, YYYY-MM-DDTHH:MM, today or yesterday") from None
    except OverflowError:  # an offset that moves 0001-01-01 or 9999-12-31 off the calendar
        moment = date.min
    day = moment.date() if isinstance(moment, datetime) else moment
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(field, value, f"is out of range; dates go from {FIRST_DAY} to {LAST_DAY}")
    return moment


def rating(value: int | str | None, field: str = "rating") -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(field, value, "must be a whole number from 1 to 5") from None
    if not 1 <= number <= 5:
        raise InvalidInput(field, value, "must be from 1 to 5")
    return number


def choice(value: str | None, field: str, allowed: tuple[str, ...]) -> str:
    cleaned = (value or "").strip().lower()
    if cleaned not in allowed:
        raise InvalidInput(field, value, "must be one of " + ", ".join(allowed))
    return cleaned


def fold(value: str) -> str:
    """Case-insensitive form, diacritics kept ('Nguyễn' -> 'nguyễn'): "the same name as typed".
    What people type to find someone is search_fold."""
    return unicodedata.normalize("NFC", value).casefold()


# Letters that Unicode treats as base letters of their own, so NFKD leaves them whole, with the
# plain letters people type for them. The Latin part of the table behind Lucene's ASCIIFoldingFilter
# (Elasticsearch's asciifolding) and CLDR's Latin-ASCII transliterator, lower case only: it is
# applied after casefold (which already makes ß and ẞ 'ss'). Non-Latin scripts are left as they are:
# transliterating them (as Unidecode does) would guess, and make unrelated names one.
_BASE_LETTERS = str.maketrans({
    "đ": "d", "ð": "d", "ɖ": "d", "ɗ": "d", "ø": "o", "ɵ": "o", "ł": "l", "ƚ": "l", "ɫ": "l", "æ": "ae", "œ": "oe",
    "ı": "i", "ɨ": "i", "þ": "th", "ħ": "h", "ŧ": "t", "ƭ": "t", "ʈ": "t", "ŋ": "n", "ɲ": "n", "ƞ": "n",
    "ƒ": "f", "ʉ": "u", "ĸ": "q", "ƀ": "b", "ƈ": "c", "ȼ": "c", "ɇ": "e", "ɉ": "j", "ɍ": "r", "ɽ": "r",
    "ɏ": "y", "ƴ": "y", "ƶ": "z", "ȥ": "z", "ɠ": "g", "ǥ": "g", "ƙ": "k", "ƥ": "p", "ʂ": "s", "ʋ": "v",
})
# Left out rather than turned into a space, so that O'Brien is found by obrien and col·lecció by collecció.
_JOINERS = frozenset("'’ʼ‘`´·")
_ASCII_SEARCH = str.maketrans(
    {c: (None if c in _JOINERS else " ") for c in map(chr, range(128)) if not c.isalnum()})


def search_fold(value: str | None) -> str:
    """The form people type: 'Nguyễn Văn  Đức' -> 'nguyen van duc', 'ŁÓDŹ' -> 'lodz', 'İstanbul' -> 'istanbul'.

    NFKD, then every nonspacing mark (accents, the Vietnamese horn, the Turkish dot above) dropped,
    casefold, and _BASE_LETTERS (đ ø ł æ ı ...) replaced. Punctuation, symbols and spacing
    become single spaces (so an email's words are words: 'ann.lee@x.com' -> 'ann lee x com'),
    apostrophes and the middle dot vanish. German ä ö ü become a o u, as in the other languages
    that use them (not ae oe ue). Stored as customers.search_text and name_key (migrations.M006).
    """
    if not value:
        return ""
    if value.isascii():
        return " ".join(value.lower().translate(_ASCII_SEARCH).split())
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).casefold())
    kept = []
    for char in decomposed:
        category = unicodedata.category(char)
        if category == "Mn" or char in _JOINERS:
            continue
        kept.append(" " if category[0] in "PSZC" else char)
    return " ".join("".join(kept).translate(_BASE_LETTERS).split())


def name_key(name: str | None) -> str:
    """A name as search_fold makes it, its words sorted: 'An, NGUYỄN Văn' -> 'an nguyen van'.

    One key for "the same name" whatever the order people write names in (family name first
    or last): REF's exact-name match and `customer duplicates` compare it (customers.name_key).
    """
    return " ".join(sorted(search_fold(name).split()))


MIN_PHONE_DIGITS = 7  # fewer is an extension or a typo, never matched by its ending
_PHONE_CHARACTERS = frozenset("0123456789 -.()+/\t")


def phone_digits(value: str | None) -> str:
    """The digits that identify a number: '+63 917-555.0101' and '0063 917 555 0101' -> '639175550101'.

    Any script's digits count ('０９１７' -> '0917'); everything else is ignored. A leading + or 00
    (the international prefix) is dropped, and so is the one 0 of a national number
    ('0917 555 0101' -> '9175550101'), whose digits are then the end of the international form.
    """
    digits = "".join(str(unicodedata.decimal(c)) for c in (value or "") if c.isdecimal())
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("0") and not (value or "").lstrip().startswith("+"):
        return digits[1:]
    return digits


def phone_key(value: str | None) -> str | None:
    """phone_digits reversed (None without digits), as customers.phone_key stores it: reversed, "ends
    with these digits" is a prefix, which an index finds by a range."""
    return phone_digits(value)[::-1] or None


def looks_like_phone(value: str) -> bool:
    """Only what people write phone numbers with, and at least MIN_PHONE_DIGITS digits."""
    stripped = value.strip()
    digits = sum(c.isdecimal() for c in stripped)
    return digits >= MIN_PHONE_DIGITS and all(c in _PHONE_CHARACTERS or c.isdecimal() for c in stripped)


def customer_keys(name: str, email: str | None, phone: str | None, company: str | None) -> tuple[str, str | None, str]:
    """(name_key, phone_key, search_text): what customers' key columns hold (migrations.M006).
    search_text is the folded name, email and company, then the phone's digits, for --search."""
    parts = (search_fold(name), search_fold(email), search_fold(company), phone_digits(phone))
    return name_key(name), phone_key(phone), " ".join(part for part in parts if part)
