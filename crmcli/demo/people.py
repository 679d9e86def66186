"""People for the demo business: names as each community writes them, and their emails and phones."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

from crmcli.demo.vocabulary import (
    EMAIL_DOMAINS,
    ENGLISH,
    FILIPINO,
    GROUP_WEIGHTS,
    GROUPS,
    MALAY,
    VIETNAMESE,
    VIETNAMESE_FAMILY_WEIGHTS,
    VIETNAMESE_FEMALE_MIDDLE,
    VIETNAMESE_MALE_MIDDLE,
)


def ascii_fold(text: str) -> str:
    """'Nguyễn Đức' -> 'Nguyen Duc': NFKD, drop combining marks; đ has no decomposition."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).encode("ascii", "ignore").decode()


def email_token(text: str) -> str:
    return "".join(ch for ch in ascii_fold(text).lower() if ch.isalnum())



@dataclass
class Person:
    group: str
    name: str
    first_token: str  # for the email local part
    last_token: str


def make_person(rng: random.Random) -> Person:
    group = rng.choices(GROUPS, weights=GROUP_WEIGHTS)[0]
    male = rng.random() < 0.5
    if group == "english":
        given = rng.choice(ENGLISH[0] if male else ENGLISH[1])
        family = rng.choice(ENGLISH[2])
        return Person(group, f"{given} {family}", given, family)
    if group == "vietnamese":
        family = rng.choices(VIETNAMESE[2], weights=VIETNAMESE_FAMILY_WEIGHTS)[0]
        middle = rng.choice(VIETNAMESE_MALE_MIDDLE if male else VIETNAMESE_FEMALE_MIDDLE)
        given = rng.choice(VIETNAMESE[0] if male else VIETNAMESE[1])
        return Person(group, f"{family} {middle} {given}", given.split()[-1], family)
    if group == "filipino":
        given = rng.choice(FILIPINO[0] if male else FILIPINO[1])
        surname = rng.choice(FILIPINO[2])
        # Usually given name + mother's maiden name + father's surname.
        if rng.random() < 0.7:
            mother = rng.choice([f for f in FILIPINO[2] if f != surname])
            return Person(group, f"{given} {mother} {surname}", given, surname)
        return Person(group, f"{given} {surname}", given, surname)
    given = rng.choice(MALAY[0] if male else MALAY[1])
    father = rng.choice(MALAY[2])
    link = "bin" if male else "binti"
    return Person(group, f"{given} {link} {father}", given.split()[0], father)


def make_email(rng: random.Random, person: Person, company: str | None, taken: set[str]) -> str:
    first, last = email_token(person.first_token), email_token(person.last_token)
    if company is not None and rng.random() < 0.6:
        local, domain = first, email_token(company)[:18] + ".com"
    else:
        pattern = rng.choices(range(5), weights=(40, 20, 10, 15, 15))[0]
        local = (f"{first}.{last}", f"{first}{last}", f"{first}_{last}", f"{first[0]}{last}",
                 f"{first}.{last}{rng.randrange(70, 100)}")[pattern]
        domain = rng.choice(EMAIL_DOMAINS[person.group])
    candidate, number = f"{local}@{domain}", 1
    while candidate in taken:
        number += 1
        candidate = f"{local}{number}@{domain}"
    taken.add(candidate)
    return candidate


def make_phone(rng: random.Random, group: str) -> str:
    international = rng.random() < 0.35

    def digits(count: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(count))

    if group == "vietnamese":  # 0912 345 678 / +84 912 345 678
        prefix = rng.choice(("90", "91", "93", "97", "98", "86", "88"))
        national = f"{prefix}{digits(1)} {digits(3)} {digits(3)}"
        return f"+84 {national}" if international else f"0{national}"
    if group == "filipino":  # 0917 123 4567 / +63 917 123 4567
        national = f"{rng.choice(('917', '918', '927', '939', '998'))} {digits(3)} {digits(4)}"
        return f"+63 {national}" if international else f"0{national}"
    if group == "malay":  # 012-345 6789 / +60 12-345 6789
        national = f"{rng.choice(('12', '13', '16', '17', '19'))}-{digits(3)} {digits(4)}"
        return f"+60 {national}" if international else f"0{national}"
    national = f"7{digits(3)} {digits(6)}"  # 07700 900123 / +44 7700 900123
    return f"+44 {national}" if international else f"0{national}"

