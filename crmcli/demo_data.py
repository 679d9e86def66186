"""Synthetic, realistic demo business for `crm demo` and for tests.

Pure: no database access and no global state. `generate()` returns plain dicts
that the caller inserts. Same (customers, seed, today) -> identical output.

Purchases follow the BG/NBD story, so the customer-base models have something
real to find: each customer joins (first purchase on the join day), buys at a
personal Poisson rate drawn from a gamma distribution (heterogeneity, as in the
NBD), and after every purchase drops out for good with a personal probability
drawn from a beta distribution. A complaint raises that probability. Spend per
purchase is gamma around a per-customer typical spend that is itself gamma
around the population mean (the Gamma-Gamma story).

Every event lies on or after the customer's `since` date and strictly before
`today` (at most yesterday 23:59:59), so nothing is ever in the future.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["DemoBusiness", "generate", "STAFF", "INTERACTION_TYPES", "FEEDBACK_TYPES"]

HISTORY_DAYS = 913  # about 2.5 years; day 0 is the first day, day HISTORY_DAYS-1 is yesterday

STAFF = ("Linh", "Marco", "Aisha", "Joy", "Sam")
INTERACTION_TYPES = ("purchase", "refund", "call", "email", "meeting", "visit", "support", "other")
FEEDBACK_TYPES = ("complaint", "compliment", "suggestion")
FEEDBACK_CATEGORIES = ("delivery", "quality", "price", "service", "staff")
TAGS = ("wholesale", "vip-candidate", "newsletter", "local", "online")

# Population parameters of the purchase process (rates are per day).
RATE_SHAPE = 0.85  # gamma shape r: below 1 gives many slow buyers and a tail of regulars
RATE_MEAN = 1 / 38
DROPOUT_A, DROPOUT_B = 0.75, 2.4  # beta(a, b): mean p ~ 0.24, a spike of loyal customers near 0
COMPLAINT_DROPOUT_BUMP = 0.35  # after a complaint, p -> p + (1 - p) * bump
SPEND_MEAN = 48.0
SPEND_SHAPE = 3.0  # heterogeneity of typical spend between customers
PURCHASE_SPEND_SHAPE = 6.0  # variation of single purchases around a customer's typical spend
LEAD_SHARE = 0.04  # customers recorded but who never bought
REFUND_SHARE = 0.02
COMPLAINT_PER_PURCHASE = 0.035
COMPLIMENT_PER_PURCHASE = 0.04
SUGGESTION_PER_PURCHASE = 0.015


@dataclass
class DemoBusiness:
    """Rows ready to insert. `customer` in interactions/feedback is an index into `customers`."""

    customers: list[dict] = field(default_factory=list)
    interactions: list[dict] = field(default_factory=list)
    feedback: list[dict] = field(default_factory=list)
    followups: list[dict] = field(default_factory=list)


# --- names -------------------------------------------------------------------
# Each group: (male given names, female given names, family names).

ENGLISH = (
    ("James", "Oliver", "Harry", "George", "Jack", "Thomas", "William", "Daniel", "Samuel",
     "Joseph", "Michael", "David", "Christopher", "Matthew", "Ben", "Ryan", "Liam", "Noah"),
    ("Emily", "Olivia", "Sophie", "Charlotte", "Amelia", "Jessica", "Hannah", "Lucy", "Grace",
     "Chloe", "Emma", "Ellie", "Megan", "Laura", "Rachel", "Sarah", "Isla", "Poppy"),
    ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
     "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
     "Clarke", "Hughes", "O'Brien", "Patel", "Murphy", "Campbell"),
)

VIETNAMESE_MALE_MIDDLE = ("Văn", "Hữu", "Đức", "Quốc", "Minh", "Thành", "Công", "Gia")
VIETNAMESE_FEMALE_MIDDLE = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bảo", "Hồng")
VIETNAMESE = (
    ("An", "Bình", "Cường", "Dũng", "Duy", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy", "Khánh",
     "Khoa", "Long", "Nam", "Phúc", "Quân", "Quang", "Sơn", "Thắng", "Tuấn", "Việt", "Tài"),
    ("Anh", "Bích Ngọc", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh",
     "Mai", "Nga", "Nhung", "Phương", "Quỳnh", "Tâm", "Thảo", "Trang", "Vy", "Yến", "Xuân"),
    ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
     "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương"),
)
# Nguyễn is carried by roughly four in ten Vietnamese; the weights follow the list above.
VIETNAMESE_FAMILY_WEIGHTS = (38, 11, 9, 7, 5, 4, 4, 4, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1)

FILIPINO = (
    ("Jose", "Juan", "Mark", "Jerome", "Ramon", "Carlo", "Paolo", "Rodel", "Jun", "Bayani",
     "Ernesto", "Rogelio", "Arnel", "Jomar", "Christian", "Angelo", "Reynaldo", "Dante",
     "Emilio", "Andres"),
    ("Maria", "Ana", "Rosario", "Angelica", "Kristine", "Lourdes", "Jasmine", "Liza",
     "Maricel", "Ligaya", "Dalisay", "Mayumi", "Marites", "Rhea", "Corazon", "Jocelyn",
     "Luzviminda", "Divina", "Teresita", "Imelda"),
    ("Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres", "Aquino",
     "Villanueva", "Ramos", "Castillo", "Mercado", "Rizal", "dela Cruz", "de Leon",
     "delos Santos", "Dimaculangan", "Macaraeg", "Pangilinan", "Magbanua", "Tolentino"),
)

MALAY = (
    ("Ahmad", "Muhammad", "Mohd Faizal", "Azman", "Hafiz", "Ismail", "Zulkifli", "Aziz",
     "Hakim", "Irfan", "Syafiq", "Amir", "Farid", "Kamal", "Nazri", "Danial", "Haziq",
     "Khairul Anuar", "Shahrul", "Firdaus"),
    ("Siti Nurhaliza", "Nur Aisyah", "Nurul Izzah", "Aminah", "Farah", "Zainab", "Nadia",
     "Salmah", "Rohana", "Siti Aminah", "Noraini", "Faridah", "Hidayah", "Liyana",
     "Syahirah", "Zarina", "Azlina", "Nor Azizah", "Fatimah", "Wan Nadhirah"),
    ("Ismail", "Tarudin", "Abdullah", "Hassan", "Ibrahim", "Yusof", "Osman", "Abdul Rahman",
     "Ahmad", "Mahmud", "Salleh", "Hamid", "Karim", "Othman", "Jaafar", "Mohamed", "Razali",
     "Sulaiman", "Zakaria", "Mustafa"),
)

GROUPS = ("english", "vietnamese", "filipino", "malay")
GROUP_WEIGHTS = (35, 25, 20, 20)

EMAIL_DOMAINS = {
    "english": ("gmail.com", "outlook.com", "hotmail.co.uk", "btinternet.com", "yahoo.co.uk", "icloud.com"),
    "vietnamese": ("gmail.com", "yahoo.com.vn", "outlook.com", "hotmail.com"),
    "filipino": ("gmail.com", "yahoo.com.ph", "yahoo.com", "outlook.com"),
    "malay": ("gmail.com", "yahoo.com.my", "hotmail.com", "outlook.com"),
}

COMPANIES = (
    "Bếp Nhà Lan", "Phở Hà Nội Express", "Sari-Sari ni Aling Nena", "Kusina ni Lola",
    "Kedai Runcit Ahmad", "Warung Mak Siti", "Green Leaf Café", "Harbour Catering Ltd",
    "Riverside Bakery", "Corner Deli & Co", "Office Pantry Supplies", "St Mary's Primary School",
)

CUSTOMER_NOTES = (
    "Prefers contact by phone", "Prefers WhatsApp messages", "Pays by bank transfer",
    "Allergic to peanuts", "Ask for Linh", "Usually orders for the whole office",
    "Birthday in March", "Collects orders on Saturdays", "Speaks Vietnamese and English",
    "Referred by a friend", "Interested in catering for events", "Halal only",
    "Vegetarian", "Needs invoice with company VAT number",
)

INTERACTION_NOTES = {
    "call": ("Called about order status", "Follow-up call after delivery", "Asked about bulk pricing",
             "Left voicemail", "Confirmed pickup time", "Rescheduled delivery",
             "Checked in, happy with last order", "Asked about opening hours over the holidays"),
    "email": ("Emailed invoice copy", "Sent quote for catering order", "Replied to question about ingredients",
              "Order confirmation resent", "Sent updated price list", "Sent monthly newsletter"),
    "meeting": ("Met to discuss wholesale terms", "Tasting session for event order",
                "Quarterly review of standing order", "Discussed catering for company event"),
    "visit": ("Dropped by to look at the new range", "Picked up order in store",
              "Visited with family, asked about gift boxes", "Came in to collect a sample"),
    "support": ("Card payment failed, retried", "Wrong item in delivery, replacement sent",
                "Help with online account login", "Invoice address corrected", "Delivery late, apologised"),
    "other": ("Birthday voucher sent", "Updated contact details", "Loyalty card issued", "Referred a friend"),
}
CONTACT_TYPES = ("call", "email", "meeting", "visit", "support", "other")
CONTACT_WEIGHTS = (30, 28, 7, 17, 12, 6)
WIN_BACK_NOTES = ("Win-back email: 10% off next order", "Called to check in, no answer",
                  "Sent 'we miss you' voucher", "Called to check in, said they moved away")
PURCHASE_NOTES = ("Online order", "Gift wrapping", "Paid cash", "Standing order", "Catering tray", "Pre-order")
REFUND_REASONS = ("damaged item", "wrong item sent", "item out of stock", "goodwill gesture", "late delivery")

FEEDBACK_NOTES = {
    ("complaint", "delivery"): ("Delivery arrived two days late", "Courier left the parcel in the rain",
                                "Order arrived incomplete"),
    ("complaint", "quality"): ("Bread was stale", "Product past its best-before date",
                               "Packaging damaged, contents spilled"),
    ("complaint", "price"): ("Prices went up again without notice", "Charged twice for one order",
                             "Delivery fee too high for a small order"),
    ("complaint", "service"): ("Waited 20 minutes at the counter", "Nobody answered the phone",
                               "Online order cancelled without explanation"),
    ("complaint", "staff"): ("Staff member was rude at checkout", "Was given the wrong change",
                             "Got conflicting answers from two staff members"),
    ("compliment", "delivery"): ("Fast delivery, well packed", "Driver was very careful with the cake"),
    ("compliment", "quality"): ("Best coffee beans in town", "Cake was perfect for the party",
                                "Fresh vegetables every time"),
    ("compliment", "price"): ("Good value for the quality", "Love the weekly specials"),
    ("compliment", "service"): ("Quick and friendly service", "Order was ready exactly on time"),
    ("compliment", "staff"): ("{staff} went out of their way to help", "{staff} remembered my usual order"),
    ("suggestion", "delivery"): ("Please offer evening delivery slots", "Would like a pickup locker"),
    ("suggestion", "quality"): ("More vegetarian options please", "Smaller pack sizes for single people"),
    ("suggestion", "price"): ("A loyalty discount would be nice", "Bulk discount for regulars"),
    ("suggestion", "service"): ("Accept e-wallet payments (GCash, MoMo, Touch 'n Go)", "Open earlier on weekdays"),
    ("suggestion", "staff"): ("More staff at weekends please", "Staff who speak Tagalog would help"),
}
RESOLUTION_NOTES = {
    "delivery": ("Refunded delivery fee and apologised", "Re-sent missing items"),
    "quality": ("Replaced product, batch checked", "Refunded and removed batch from shelf"),
    "price": ("Duplicate charge refunded", "Explained new prices, gave 10% voucher"),
    "service": ("Apologised, offered voucher", "Called back and sorted the order"),
    "staff": ("Spoke with staff member; apology sent", "Manager called customer to apologise"),
}
COMPLAINT_CATEGORY_WEIGHTS = (30, 25, 15, 20, 10)
OTHER_CATEGORY_WEIGHTS = (15, 35, 10, 25, 15)


# --- helpers -----------------------------------------------------------------

def ascii_fold(text: str) -> str:
    """'Nguyễn Đức' -> 'Nguyen Duc': NFKD, drop combining marks; đ has no decomposition."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).encode("ascii", "ignore").decode()


def _email_token(text: str) -> str:
    return "".join(ch for ch in ascii_fold(text).lower() if ch.isalnum())


def _money(value: float) -> Decimal:
    """Round to cents, never below 0.50, always exactly two decimal places."""
    cents = max(50, int(round(value * 100)))
    return Decimal(cents).scaleb(-2)


def _clock(rng: random.Random, first_hour: int, last_hour: int) -> datetime.time:
    seconds = rng.randrange(first_hour * 3600, last_hour * 3600)
    return datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60)


@dataclass
class _Person:
    group: str
    name: str
    first_token: str  # for the email local part
    last_token: str


def _make_person(rng: random.Random) -> _Person:
    group = rng.choices(GROUPS, weights=GROUP_WEIGHTS)[0]
    male = rng.random() < 0.5
    if group == "english":
        given = rng.choice(ENGLISH[0] if male else ENGLISH[1])
        family = rng.choice(ENGLISH[2])
        return _Person(group, f"{given} {family}", given, family)
    if group == "vietnamese":
        family = rng.choices(VIETNAMESE[2], weights=VIETNAMESE_FAMILY_WEIGHTS)[0]
        middle = rng.choice(VIETNAMESE_MALE_MIDDLE if male else VIETNAMESE_FEMALE_MIDDLE)
        given = rng.choice(VIETNAMESE[0] if male else VIETNAMESE[1])
        return _Person(group, f"{family} {middle} {given}", given.split()[-1], family)
    if group == "filipino":
        given = rng.choice(FILIPINO[0] if male else FILIPINO[1])
        surname = rng.choice(FILIPINO[2])
        # Usually given name + mother's maiden name + father's surname.
        if rng.random() < 0.7:
            mother = rng.choice([f for f in FILIPINO[2] if f != surname])
            return _Person(group, f"{given} {mother} {surname}", given, surname)
        return _Person(group, f"{given} {surname}", given, surname)
    given = rng.choice(MALAY[0] if male else MALAY[1])
    father = rng.choice(MALAY[2])
    link = "bin" if male else "binti"
    return _Person(group, f"{given} {link} {father}", given.split()[0], father)


def _email(rng: random.Random, person: _Person, company: str | None, taken: set[str]) -> str:
    first, last = _email_token(person.first_token), _email_token(person.last_token)
    if company is not None and rng.random() < 0.6:
        local, domain = first, _email_token(company)[:18] + ".com"
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


def _phone(rng: random.Random, group: str) -> str:
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


# --- the generator -------------------------------------------------------------

def generate(customers: int = 200, seed: int = 1, today: datetime.date | None = None) -> DemoBusiness:
    """A deterministic demo business of `customers` customers with ~2.5 years of history ending yesterday."""
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 0:
        raise ValueError(f"customers must be a non-negative integer, got {customers!r}")
    if today is None:
        today = datetime.date.today()
    rng = random.Random(seed)
    first_day = today - datetime.timedelta(days=HISTORY_DAYS)
    last_moment = datetime.datetime.combine(today, datetime.time()) - datetime.timedelta(seconds=1)

    def moment(day: float, first_hour: int, last_hour: int) -> datetime.datetime:
        """Day number (0 = first_day) plus an opening-hours time of day."""
        return datetime.datetime.combine(first_day + datetime.timedelta(days=int(day)),
                                         _clock(rng, first_hour, last_hour))

    # Join days, sorted so customer numbers grow with time as in a real shop.
    # Day 0 is the opening day with its first customer, which pins the history to ~2.5 years.
    join_days = sorted(rng.randrange(HISTORY_DAYS) for _ in range(customers))
    if join_days:
        join_days[0] = 0

    people = [_make_person(rng) for _ in range(customers)]
    if customers and not any(p.name == "Nguyễn Văn An" for p in people):
        # The docs search for "nguyễn": make sure the canonical example exists.
        index = next((i for i, p in enumerate(people) if p.group == "vietnamese"), 0)
        people[index] = _Person("vietnamese", "Nguyễn Văn An", "An", "Nguyễn")

    business = DemoBusiness()
    taken_emails: set[str] = set()
    for index, (person, join_day) in enumerate(zip(people, join_days, strict=True)):
        staff_favourite = rng.choice(STAFF)

        # The helpers below bind this customer's values as defaults, so each is this iteration's own.
        def staff(probability: float = 0.75, *, favourite: str = staff_favourite) -> str | None:
            if rng.random() >= probability:
                return None
            return favourite if rng.random() < 0.6 else rng.choice(STAFF)

        company = rng.choice(COMPANIES) if rng.random() < 0.08 else None
        email = None if rng.random() < 0.10 else _email(rng, person, company, taken_emails)
        phone = _phone(rng, person.group) if rng.random() < 0.85 else None
        note = rng.choice(CUSTOMER_NOTES) if rng.random() < 0.15 else None

        rate = rng.gammavariate(RATE_SHAPE, RATE_MEAN / RATE_SHAPE)
        dropout = rng.betavariate(DROPOUT_A, DROPOUT_B)
        typical_spend = rng.gammavariate(SPEND_SHAPE, SPEND_MEAN / SPEND_SHAPE)
        if company is not None:
            typical_spend *= 3  # businesses buy in bulk

        interactions: list[dict] = []
        feedback: list[dict] = []
        purchase_days: list[float] = []

        def interaction(kind: str, at: datetime.datetime, amount: Decimal | None, by: str | None,
                        text: str | None, *, rows: list[dict] = interactions, customer: int = index) -> None:
            rows.append({"customer": customer, "type": kind, "at": at.isoformat(timespec="seconds"),
                         "amount": amount, "by": by, "note": text})

        day = float(join_day)
        is_lead = rng.random() < LEAD_SHARE
        while not is_lead:
            purchase_days.append(day)
            at = moment(day, 8, 20)
            amount = _money(rng.gammavariate(PURCHASE_SPEND_SHAPE, typical_spend / PURCHASE_SPEND_SHAPE))
            online = rng.random() < 0.3
            interaction("purchase", at, amount, None if online else staff(0.8),
                        "Online order" if online else (rng.choice(PURCHASE_NOTES) if rng.random() < 0.08 else None))
            if rng.random() < REFUND_SHARE:
                refund_at = at + datetime.timedelta(hours=rng.uniform(2, 24 * 14))
                if refund_at <= last_moment:
                    share = 1.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.6)
                    refund = min(amount, _money(float(amount) * share))
                    interaction("refund", refund_at, refund, staff(0.9),
                                f"Refund for purchase of {at.date().isoformat()}: {rng.choice(REFUND_REASONS)}")
            next_from = day
            roll = rng.random()
            if roll < COMPLAINT_PER_PURCHASE + COMPLIMENT_PER_PURCHASE + SUGGESTION_PER_PURCHASE:
                if roll < COMPLAINT_PER_PURCHASE:
                    kind = "complaint"
                elif roll < COMPLAINT_PER_PURCHASE + COMPLIMENT_PER_PURCHASE:
                    kind = "compliment"
                else:
                    kind = "suggestion"
                feedback_day = day + rng.uniform(0, 3)
                if feedback_day < HISTORY_DAYS:
                    feedback.append(_feedback(rng, index, kind, moment(feedback_day, 8, 21), staff(0.6),
                                              last_moment))
                    if kind == "complaint":
                        dropout += (1 - dropout) * COMPLAINT_DROPOUT_BUMP
                        next_from = max(day, feedback_day)
                        if rng.random() < 0.5:
                            interaction("support", moment(feedback_day, 9, 18), None, staff(1.0),
                                        f"Followed up on complaint: {feedback[-1]['note'].lower()}")
            if rng.random() < dropout:
                break  # gone for good (BG/NBD: drop-out happens right after a purchase)
            day = next_from + rng.expovariate(rate)
            if day >= HISTORY_DAYS:
                break

        # Non-purchase contacts cluster around the active period: near a purchase, or near joining.
        anchors = purchase_days or [float(join_day)]
        contacts = int(0.35 * len(purchase_days) + rng.random() * 1.8) + (1 if is_lead else 0)
        if company is not None:
            contacts += 2
        for _ in range(contacts):
            contact_day = rng.choice(anchors) + rng.uniform(-10, 20)
            contact_day = min(max(contact_day, join_day), HISTORY_DAYS - 1)
            kind = rng.choices(CONTACT_TYPES, weights=CONTACT_WEIGHTS)[0]
            if kind == "meeting" and company is None and rng.random() < 0.7:
                kind = "call"
            text = rng.choice(INTERACTION_NOTES[kind])
            by = None if text == "Sent monthly newsletter" else staff(0.95)
            interaction(kind, moment(contact_day, 9, 18) if kind != "email" else moment(contact_day, 7, 22),
                        None, by, text)
        # Lapsed customers sometimes get a win-back attempt.
        if len(purchase_days) >= 2 and rng.random() < 0.35:
            win_back_day = purchase_days[-1] + rng.uniform(60, 200)
            if win_back_day < HISTORY_DAYS:
                text = rng.choice(WIN_BACK_NOTES)
                interaction("email" if text.startswith(("Win-back", "Sent")) else "call",
                            moment(win_back_day, 9, 18), None, staff(1.0), text)

        tags = []
        if company is not None and rng.random() < 0.8:
            tags.append("wholesale")
        if len(purchase_days) >= 8 and typical_spend > SPEND_MEAN and rng.random() < 0.7:
            tags.append("vip-candidate")
        if email is not None and rng.random() < 0.4:
            tags.append("newsletter")
        if rng.random() < 0.35:
            tags.append("local")
        if rng.random() < 0.3:
            tags.append("online")

        business.customers.append({
            "name": person.name,
            "email": email,
            "phone": phone,
            "company": company,
            "tags": tags,
            "note": note,
            "since": (first_day + datetime.timedelta(days=join_day)).isoformat(),
        })
        business.interactions.extend(interactions)
        business.feedback.extend(feedback)

    _ensure_open_and_resolved_complaints(rng, business.feedback, last_moment)
    # Chronological order, so database ids grow with time like a real log.
    business.interactions.sort(key=lambda row: (row["at"], row["customer"], row["type"]))
    business.feedback.sort(key=lambda row: (row["at"], row["customer"], row["type"]))
    business.followups = _followups(business, seed, today)
    return business


# --- follow-ups --------------------------------------------------------------------

FOLLOWUP_NOTES = ("Call to check in", "Offer the loyalty card", "Ask how the last order went",
                  "Invite to the tasting evening", "Tell them about the new catalogue")
FOLLOWUP_OUTCOMES = ("Spoke to them; ordering again next week", "Left a voicemail", "Sent a voucher by email",
                     "Said they moved away", "Happy, just busy; will drop by")
# Cycled through, so every demo has follow-ups done, overdue, due today and coming up.
FOLLOWUP_STATUSES = ("done", "overdue", "today", "upcoming", "done")


def _followups(business: DemoBusiness, seed: int, today: datetime.date) -> list[dict]:
    """Follow-ups with regular customers, assigned to the staff member who served each most.

    Drawn from their own random stream, so adding them left the rest of the business as it was.
    Every moment is before `today`; due dates may be after it.
    """
    rng = random.Random(f"followups-{seed}")
    purchase_days: dict[int, set[str]] = {}
    served: dict[int, dict[str, int]] = {}
    for row in business.interactions:
        if row["type"] == "purchase":
            purchase_days.setdefault(row["customer"], set()).add(row["at"][:10])
        if row["by"]:
            counts = served.setdefault(row["customer"], {})
            counts[row["by"]] = counts.get(row["by"], 0) + 1
    regulars = sorted(c for c, days in purchase_days.items() if len(days) >= 3)
    chosen = sorted(rng.sample(regulars, min(len(regulars), max(5, len(business.customers) // 12))))
    day = datetime.timedelta(days=1)
    result = []
    for n, customer in enumerate(chosen):
        status = FOLLOWUP_STATUSES[n % len(FOLLOWUP_STATUSES)]
        last = datetime.date.fromisoformat(max(purchase_days[customer]))
        served_counts = served.get(customer)
        by = min(served_counts, key=lambda name: (-served_counts[name], name)) if served_counts else rng.choice(STAFF)
        done_at = done_note = None
        if status == "done" and last + 20 * day < today - 10 * day:
            created = min(last + rng.randint(20, 90) * day, today - 10 * day)
            due = created + rng.randint(1, 7) * day
            done_at = datetime.datetime.combine(due + rng.randint(0, 2) * day, _clock(rng, 9, 18))
            done_note = rng.choice(FOLLOWUP_OUTCOMES)
        else:
            created = max(today - rng.randint(8, 25) * day, last)
            due = {"overdue": today - rng.randint(1, 7) * day, "upcoming": today + rng.randint(1, 14) * day}.get(
                status, today)
            due = max(due, created)
        note = f"{rng.choice(FOLLOWUP_NOTES)}: regular customer, last bought {last.isoformat()}"
        result.append({
            "customer": customer, "due": due.isoformat(), "by": by, "note": note,
            "created_at": datetime.datetime.combine(created, _clock(rng, 9, 18)).isoformat(timespec="seconds"),
            "done_at": done_at.isoformat(timespec="seconds") if done_at else None, "done_note": done_note,
        })
    return result


def _feedback(rng: random.Random, customer: int, kind: str, at: datetime.datetime, by: str | None,
              last_moment: datetime.datetime) -> dict:
    weights = COMPLAINT_CATEGORY_WEIGHTS if kind == "complaint" else OTHER_CATEGORY_WEIGHTS
    category = rng.choices(FEEDBACK_CATEGORIES, weights=weights)[0]
    note = rng.choice(FEEDBACK_NOTES[(kind, category)]).format(staff=by or rng.choice(STAFF))
    if kind == "complaint":
        rating = rng.choices((1, 2, 3), weights=(4, 4, 2))[0] if rng.random() < 0.85 else None
    elif kind == "compliment":
        rating = rng.choices((4, 5), weights=(3, 7))[0] if rng.random() < 0.9 else None
    else:
        rating = rng.choice((3, 4, 4, 5)) if rng.random() < 0.7 else None
    resolved_at = resolution_note = None
    if kind == "complaint" and rng.random() < 0.8:
        # Resolved during opening hours, usually within a few days.
        resolved = datetime.datetime.combine(at.date() + datetime.timedelta(days=int(rng.expovariate(1 / 1.5))),
                                             _clock(rng, 9, 18))
        if resolved <= at:
            resolved = at + datetime.timedelta(minutes=rng.randrange(20, 180))
        if resolved <= last_moment:
            resolved_at = resolved.isoformat(timespec="seconds")
            resolution_note = rng.choice(RESOLUTION_NOTES[category])
    return {"customer": customer, "type": kind, "rating": rating, "category": category, "by": by,
            "note": note, "at": at.isoformat(timespec="seconds"), "resolved_at": resolved_at,
            "resolution_note": resolution_note}


def _ensure_open_and_resolved_complaints(rng: random.Random, feedback: list[dict],
                                         last_moment: datetime.datetime) -> None:
    """Demos and tests need both an open and a resolved complaint whenever there are two complaints."""
    complaints = sorted((row for row in feedback if row["type"] == "complaint"), key=lambda row: row["at"])
    if len(complaints) < 2:
        return
    if all(row["resolved_at"] is not None for row in complaints):
        complaints[-1]["resolved_at"] = complaints[-1]["resolution_note"] = None
    if all(row["resolved_at"] is None for row in complaints):
        earliest = complaints[0]
        resolved = datetime.datetime.fromisoformat(earliest["at"]) + datetime.timedelta(hours=2)
        if resolved <= last_moment:
            earliest["resolved_at"] = resolved.isoformat(timespec="seconds")
            earliest["resolution_note"] = rng.choice(RESOLUTION_NOTES[earliest["category"]])
