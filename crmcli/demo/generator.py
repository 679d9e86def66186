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
from dataclasses import dataclass, field
from decimal import Decimal

from crmcli.demo.people import Person, make_email, make_person, make_phone
from crmcli.demo.vocabulary import (
    COMPANIES,
    COMPLAINT_CATEGORY_WEIGHTS,
    CONTACT_TYPES,
    CONTACT_WEIGHTS,
    CUSTOMER_NOTES,
    FEEDBACK_CATEGORIES,
    FEEDBACK_NOTES,
    FOLLOWUP_NOTES,
    FOLLOWUP_OUTCOMES,
    INTERACTION_NOTES,
    OTHER_CATEGORY_WEIGHTS,
    PURCHASE_NOTES,
    REFUND_REASONS,
    RESOLUTION_NOTES,
    STAFF,
    WIN_BACK_NOTES,
)

HISTORY_DAYS = 913  # about 2.5 years; day 0 is the first day, day HISTORY_DAYS-1 is yesterday

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


def _money(value: float) -> Decimal:
    """Round to cents, never below 0.50, always exactly two decimal places."""
    cents = max(50, int(round(value * 100)))
    return Decimal(cents).scaleb(-2)


def _clock(rng: random.Random, first_hour: int, last_hour: int) -> datetime.time:
    seconds = rng.randrange(first_hour * 3600, last_hour * 3600)
    return datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60)



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

    # Join days, sorted so customer numbers grow with time as in a real shop.
    # Day 0 is the opening day with its first customer, which pins the history to ~2.5 years.
    join_days = sorted(rng.randrange(HISTORY_DAYS) for _ in range(customers))
    if join_days:
        join_days[0] = 0

    business = DemoBusiness()
    taken_emails: set[str] = set()
    for index, (person, join_day) in enumerate(zip(_people(rng, customers), join_days, strict=True)):
        customer = _Customer(rng, index, first_day, last_moment, favourite=rng.choice(STAFF))
        business.customers.append(_customer_row(customer, person, join_day, taken_emails))
        business.interactions.extend(customer.interactions)
        business.feedback.extend(customer.feedback)

    _ensure_open_and_resolved_complaints(rng, business.feedback, last_moment)
    # Chronological order, so database ids grow with time like a real log.
    business.interactions.sort(key=lambda row: (row["at"], row["customer"], row["type"]))
    business.feedback.sort(key=lambda row: (row["at"], row["customer"], row["type"]))
    business.followups = _followups(business, seed, today)
    return business


def _people(rng: random.Random, count: int) -> list[Person]:
    people = [make_person(rng) for _ in range(count)]
    if count and not any(p.name == "Nguyễn Văn An" for p in people):
        # The docs search for "nguyễn": make sure the canonical example exists.
        index = next((i for i, p in enumerate(people) if p.group == "vietnamese"), 0)
        people[index] = Person("vietnamese", "Nguyễn Văn An", "An", "Nguyễn")
    return people


@dataclass
class _Customer:
    """One customer's rows while they are drawn, and the helpers that draw them.

    Every draw comes from the one shared stream, in a fixed order: moving a call changes every demo.
    """

    rng: random.Random
    index: int
    first_day: datetime.date
    last_moment: datetime.datetime
    favourite: str  # the staff member who usually serves them
    interactions: list[dict] = field(default_factory=list)
    feedback: list[dict] = field(default_factory=list)
    purchase_days: list[float] = field(default_factory=list)

    def moment(self, day: float, first_hour: int, last_hour: int) -> datetime.datetime:
        """Day number (0 = first_day) plus an opening-hours time of day."""
        return datetime.datetime.combine(self.first_day + datetime.timedelta(days=int(day)),
                                         _clock(self.rng, first_hour, last_hour))

    def staff(self, probability: float = 0.75) -> str | None:
        if self.rng.random() >= probability:
            return None
        return self.favourite if self.rng.random() < 0.6 else self.rng.choice(STAFF)

    def interaction(self, kind: str, at: datetime.datetime, amount: Decimal | None, by: str | None,
                    text: str | None) -> None:
        self.interactions.append({"customer": self.index, "type": kind, "at": at.isoformat(timespec="seconds"),
                                  "amount": amount, "by": by, "note": text})


def _customer_row(customer: _Customer, person: Person, join_day: int, taken_emails: set[str]) -> dict:
    """Draw one customer's details and whole history; return their customer row."""
    rng = customer.rng
    company = rng.choice(COMPANIES) if rng.random() < 0.08 else None
    email = None if rng.random() < 0.10 else make_email(rng, person, company, taken_emails)
    phone = make_phone(rng, person.group) if rng.random() < 0.85 else None
    note = rng.choice(CUSTOMER_NOTES) if rng.random() < 0.15 else None

    rate = rng.gammavariate(RATE_SHAPE, RATE_MEAN / RATE_SHAPE)
    dropout = rng.betavariate(DROPOUT_A, DROPOUT_B)
    typical_spend = rng.gammavariate(SPEND_SHAPE, SPEND_MEAN / SPEND_SHAPE)
    if company is not None:
        typical_spend *= 3  # businesses buy in bulk

    is_lead = rng.random() < LEAD_SHARE
    if not is_lead:
        _purchases(customer, join_day, rate, dropout, typical_spend)
    _contacts(customer, join_day, is_lead, company)
    _win_back(customer)
    return {
        "name": person.name,
        "email": email,
        "phone": phone,
        "company": company,
        "tags": _tags(rng, company, email, len(customer.purchase_days), typical_spend),
        "note": note,
        "since": (customer.first_day + datetime.timedelta(days=join_day)).isoformat(),
    }


def _purchases(customer: _Customer, join_day: int, rate: float, dropout: float, typical_spend: float) -> None:
    """Purchases from the join day on, as BG/NBD tells it: Poisson buying until a drop-out after a purchase."""
    rng = customer.rng
    day = float(join_day)
    while True:
        customer.purchase_days.append(day)
        at = customer.moment(day, 8, 20)
        amount = _money(rng.gammavariate(PURCHASE_SPEND_SHAPE, typical_spend / PURCHASE_SPEND_SHAPE))
        online = rng.random() < 0.3
        customer.interaction("purchase", at, amount, None if online else customer.staff(0.8),
                             "Online order" if online
                             else (rng.choice(PURCHASE_NOTES) if rng.random() < 0.08 else None))
        if rng.random() < REFUND_SHARE:
            _refund(customer, at, amount)
        next_from = day
        complaint_day = _purchase_feedback(customer, day)
        if complaint_day is not None:
            dropout += (1 - dropout) * COMPLAINT_DROPOUT_BUMP
            next_from = max(day, complaint_day)
        if rng.random() < dropout:
            break  # gone for good (BG/NBD: drop-out happens right after a purchase)
        day = next_from + rng.expovariate(rate)
        if day >= HISTORY_DAYS:
            break


def _refund(customer: _Customer, purchased_at: datetime.datetime, amount: Decimal) -> None:
    rng = customer.rng
    refund_at = purchased_at + datetime.timedelta(hours=rng.uniform(2, 24 * 14))
    if refund_at <= customer.last_moment:
        share = 1.0 if rng.random() < 0.3 else rng.uniform(0.1, 0.6)
        refund = min(amount, _money(float(amount) * share))
        customer.interaction("refund", refund_at, refund, customer.staff(0.9),
                             f"Refund for purchase of {purchased_at.date().isoformat()}: "
                             f"{rng.choice(REFUND_REASONS)}")


def _purchase_feedback(customer: _Customer, day: float) -> float | None:
    """Sometimes feedback follows a purchase; return the day of a complaint, None otherwise."""
    rng = customer.rng
    roll = rng.random()
    if roll >= COMPLAINT_PER_PURCHASE + COMPLIMENT_PER_PURCHASE + SUGGESTION_PER_PURCHASE:
        return None
    if roll < COMPLAINT_PER_PURCHASE:
        kind = "complaint"
    elif roll < COMPLAINT_PER_PURCHASE + COMPLIMENT_PER_PURCHASE:
        kind = "compliment"
    else:
        kind = "suggestion"
    feedback_day = day + rng.uniform(0, 3)
    if feedback_day >= HISTORY_DAYS:
        return None
    customer.feedback.append(_feedback(rng, customer.index, kind, customer.moment(feedback_day, 8, 21),
                                       customer.staff(0.6), customer.last_moment))
    if kind != "complaint":
        return None
    if rng.random() < 0.5:
        customer.interaction("support", customer.moment(feedback_day, 9, 18), None, customer.staff(1.0),
                             f"Followed up on complaint: {customer.feedback[-1]['note'].lower()}")
    return feedback_day


def _contacts(customer: _Customer, join_day: int, is_lead: bool, company: str | None) -> None:
    """Non-purchase contacts cluster around the active period: near a purchase, or near joining."""
    rng = customer.rng
    anchors = customer.purchase_days or [float(join_day)]
    contacts = int(0.35 * len(customer.purchase_days) + rng.random() * 1.8) + (1 if is_lead else 0)
    if company is not None:
        contacts += 2
    for _ in range(contacts):
        contact_day = rng.choice(anchors) + rng.uniform(-10, 20)
        contact_day = min(max(contact_day, join_day), HISTORY_DAYS - 1)
        kind = rng.choices(CONTACT_TYPES, weights=CONTACT_WEIGHTS)[0]
        if kind == "meeting" and company is None and rng.random() < 0.7:
            kind = "call"
        text = rng.choice(INTERACTION_NOTES[kind])
        by = None if text == "Sent monthly newsletter" else customer.staff(0.95)
        at = customer.moment(contact_day, 9, 18) if kind != "email" else customer.moment(contact_day, 7, 22)
        customer.interaction(kind, at, None, by, text)


def _win_back(customer: _Customer) -> None:
    """Lapsed customers sometimes get a win-back attempt."""
    rng = customer.rng
    if len(customer.purchase_days) >= 2 and rng.random() < 0.35:
        win_back_day = customer.purchase_days[-1] + rng.uniform(60, 200)
        if win_back_day < HISTORY_DAYS:
            text = rng.choice(WIN_BACK_NOTES)
            customer.interaction("email" if text.startswith(("Win-back", "Sent")) else "call",
                                 customer.moment(win_back_day, 9, 18), None, customer.staff(1.0), text)


def _tags(rng: random.Random, company: str | None, email: str | None, purchases: int,
          typical_spend: float) -> list[str]:
    tags = []
    if company is not None and rng.random() < 0.8:
        tags.append("wholesale")
    if purchases >= 8 and typical_spend > SPEND_MEAN and rng.random() < 0.7:
        tags.append("vip-candidate")
    if email is not None and rng.random() < 0.4:
        tags.append("newsletter")
    if rng.random() < 0.35:
        tags.append("local")
    if rng.random() < 0.3:
        tags.append("online")
    return tags


# --- follow-ups --------------------------------------------------------------------

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
