import datetime
import itertools
import random
import re
import statistics
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from crmcli.demo import DemoBusiness, ascii_fold, generate

TODAY = datetime.date(2025, 6, 15)
INTERACTION_TYPES = {"purchase", "refund", "call", "email", "meeting", "visit", "support", "other"}
CUSTOMER_KEYS = {"name", "email", "phone", "company", "tags", "note", "since"}
INTERACTION_KEYS = {"customer", "type", "at", "amount", "by", "note"}
FEEDBACK_KEYS = {"customer", "type", "rating", "category", "by", "note", "at", "resolved_at", "resolution_note"}
ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")

VIETNAMESE_FAMILIES = {"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
                       "Đỗ"}
FILIPINO_SURNAMES = {"Santos", "Reyes", "Cruz", "Bautista", "Ocampo", "Garcia", "Mendoza", "Torres",
                     "Aquino", "Villanueva", "Ramos", "Castillo", "Mercado"}
ENGLISH_SURNAMES = {"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
                    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green"}


@pytest.fixture(scope="module")
def business() -> DemoBusiness:
    return generate(200, seed=1, today=TODAY)


def purchases_by_customer(business: DemoBusiness) -> dict[int, list[datetime.datetime]]:
    result = defaultdict(list)
    for row in business.interactions:
        if row["type"] == "purchase":
            result[row["customer"]].append(datetime.datetime.fromisoformat(row["at"]))
    return {customer: sorted(times) for customer, times in result.items()}


def all_moments(business: DemoBusiness):
    """(customer index, datetime) of every dated event, resolutions included."""
    for row in business.interactions:
        yield row["customer"], datetime.datetime.fromisoformat(row["at"])
    for row in business.feedback:
        yield row["customer"], datetime.datetime.fromisoformat(row["at"])
        if row["resolved_at"] is not None:
            yield row["customer"], datetime.datetime.fromisoformat(row["resolved_at"])


# --- determinism and shape -------------------------------------------------------

def test_same_seed_gives_identical_output_whatever_the_global_random_state():
    random.seed(0)
    first = generate(200, seed=7, today=TODAY)
    random.seed(12345)
    random.random()
    second = generate(200, seed=7, today=TODAY)
    assert first == second


def test_different_seed_gives_different_output(business):
    other = generate(200, seed=2, today=TODAY)
    assert [c["name"] for c in other.customers] != [c["name"] for c in business.customers]
    assert other.interactions != business.interactions


def test_sizes_and_keys(business):
    assert len(business.customers) == 200
    assert all(set(c) == CUSTOMER_KEYS for c in business.customers)
    assert all(set(i) == INTERACTION_KEYS for i in business.interactions)
    assert all(set(f) == FEEDBACK_KEYS for f in business.feedback)
    assert {i["type"] for i in business.interactions} == INTERACTION_TYPES
    assert {f["type"] for f in business.feedback} == {"complaint", "compliment", "suggestion"}
    indexes = {row["customer"] for row in business.interactions + business.feedback}
    assert all(isinstance(index, int) and 0 <= index < 200 for index in indexes)


def test_zero_customers_and_bad_sizes():
    assert generate(0, today=TODAY) == DemoBusiness([], [], [])
    with pytest.raises(ValueError):
        generate(-1, today=TODAY)


def test_customer_fields(business):
    for customer in business.customers:
        datetime.date.fromisoformat(customer["since"])
        assert isinstance(customer["tags"], list) and all(isinstance(tag, str) for tag in customer["tags"])
        assert set(customer["tags"]) <= {"wholesale", "vip-candidate", "newsletter", "local", "online"}
    assert sum(1 for c in business.customers if c["company"]) >= 3
    assert sum(1 for c in business.customers if c["tags"]) >= 100
    phones = [c["phone"] for c in business.customers if c["phone"]]
    assert 150 <= len(phones) < 200
    assert any(p.startswith("0") for p in phones)
    assert {prefix for p in phones for prefix in ("+44", "+63", "+60", "+84") if p.startswith(prefix)} == {
        "+44", "+63", "+60", "+84"}


# --- names and emails ------------------------------------------------------------

def test_all_four_name_groups_are_well_represented(business):
    names = [c["name"] for c in business.customers]
    vietnamese = [n for n in names if n.split()[0] in VIETNAMESE_FAMILIES and not n.isascii()]
    malay = [n for n in names if " bin " in n or " binti " in n]
    filipino = [n for n in names if n.split()[-1] in FILIPINO_SURNAMES and n not in malay]
    english = [n for n in names if n.isascii() and n.split()[-1] in ENGLISH_SURNAMES]
    for group in (vietnamese, malay, filipino, english):
        assert len(group) >= 20, group
    assert any(" dela " in n or " de " in n or " delos " in n for n in names)
    assert any(" binti " in n for n in names) and any(" bin " in n for n in names)
    assert len(set(names)) >= 180  # varied, not a handful of names repeated


@pytest.mark.parametrize("size,seed", [(1, 1), (3, 5), (200, 1), (200, 2), (200, 3)])
def test_nguyen_van_an_always_present(size, seed):
    names = [c["name"] for c in generate(size, seed=seed, today=TODAY).customers]
    assert "Nguyễn Văn An" in names


def test_search_for_nguyen_finds_several(business):
    assert sum("nguyễn" in c["name"].casefold() for c in business.customers) >= 5


def test_emails_unique_ascii_lowercase_and_some_missing(business):
    emails = [c["email"] for c in business.customers if c["email"] is not None]
    assert 0.8 * 200 <= len(emails) <= 0.97 * 200
    assert len({e.lower() for e in emails}) == len(emails)
    for email in emails:
        assert email.isascii() and email == email.lower()
        assert re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}", email), email


def test_emails_unique_at_scale():
    emails = [c["email"] for c in generate(5000, seed=3, today=TODAY).customers if c["email"]]
    assert len({e.lower() for e in emails}) == len(emails)


def test_ascii_fold_handles_vietnamese_d_and_diacritics():
    assert ascii_fold("Nguyễn Văn An") == "Nguyen Van An"
    assert ascii_fold("Đặng Thị Bích Ngọc, đường") == "Dang Thi Bich Ngoc, duong"


def test_emails_are_derived_from_names(business):
    an = next(c for c in business.customers if c["name"] == "Nguyễn Văn An")
    assert an["email"] is None or "nguyen" in an["email"] or an["email"].startswith("an")
    derived = 0
    for customer in business.customers:
        if customer["email"]:
            words = ascii_fold(customer["name"]).lower().replace("'", "").split()
            local = customer["email"].split("@")[0]
            derived += any(len(word) >= 3 and word in local for word in words)
    assert derived >= 0.95 * sum(1 for c in business.customers if c["email"])


# --- time ------------------------------------------------------------------------

def test_nothing_in_the_future_or_before_since(business):
    for customer, moment in all_moments(business):
        assert moment.date() < TODAY
        assert moment.date() >= datetime.date.fromisoformat(business.customers[customer]["since"])
    for row in business.interactions + business.feedback:
        assert ISO_DATETIME.match(row["at"]), row["at"]


def test_default_today_is_the_real_today():
    before = datetime.date.today()
    business = generate(30, seed=4)
    after = datetime.date.today()
    latest = max(moment for _, moment in all_moments(business))
    assert latest.date() < after
    assert latest.date() >= before - datetime.timedelta(days=200)


def test_purchase_history_spans_at_least_two_years(business):
    times = [t for history in purchases_by_customer(business).values() for t in history]
    assert (max(times) - min(times)).days >= 730
    assert (TODAY - max(times).date()).days <= 14


# --- buying behaviour ---------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_time_buyers_share(seed):
    business = generate(200, seed=seed, today=TODAY)
    counts = Counter(i["customer"] for i in business.interactions if i["type"] == "purchase")
    one_time = sum(1 for n in counts.values() if n == 1)
    assert 0.20 <= one_time / 200 <= 0.50
    assert 0.20 <= one_time / len(counts) <= 0.50


def test_there_are_regulars_buying_every_few_weeks(business):
    histories = purchases_by_customer(business)
    regulars = [h for h in histories.values() if len(h) >= 10]
    assert len(regulars) >= 3
    median_gaps = [statistics.median((b - a).days for a, b in itertools.pairwise(h)) for h in regulars]
    assert any(7 <= gap <= 28 for gap in median_gaps)


def test_there_are_customers_who_stopped_coming(business):
    stopped = [h for h in purchases_by_customer(business).values()
               if len(h) >= 3 and (TODAY - h[-1].date()).days > 180]
    assert len(stopped) >= 5


def test_amounts_are_positive_cents_only_on_money_rows(business):
    for row in business.interactions:
        if row["type"] in ("purchase", "refund"):
            assert isinstance(row["amount"], Decimal)
            assert row["amount"] > 0
            assert row["amount"].as_tuple().exponent == -2
        else:
            assert row["amount"] is None
    amounts = [r["amount"] for r in business.interactions if r["type"] == "purchase"]
    assert Decimal(30) <= sum(amounts) / len(amounts) <= Decimal(80)
    assert len(set(amounts)) > 0.8 * len(amounts)  # amounts vary, not a constant price


def test_refunds_are_rare_and_follow_a_larger_earlier_purchase():
    business = generate(1000, seed=1, today=TODAY)
    purchases = [r for r in business.interactions if r["type"] == "purchase"]
    refunds = [r for r in business.interactions if r["type"] == "refund"]
    assert 0.005 <= len(refunds) / len(purchases) <= 0.05
    for refund in refunds:
        assert any(p["customer"] == refund["customer"] and p["at"] < refund["at"] and p["amount"] >= refund["amount"]
                   for p in purchases)


def test_staff_and_contacts(business):
    staff = {row["by"] for row in business.interactions + business.feedback if row["by"]}
    assert len(staff) >= 4
    contacts = [r for r in business.interactions if r["type"] not in ("purchase", "refund")]
    assert len(contacts) >= 100
    assert all(r["note"] for r in contacts)


# --- feedback -------------------------------------------------------------------

def test_complaints_open_and_resolved(business):
    complaints = [f for f in business.feedback if f["type"] == "complaint"]
    resolved = [f for f in complaints if f["resolved_at"] is not None]
    open_ = [f for f in complaints if f["resolved_at"] is None]
    assert resolved and open_
    assert len(resolved) > len(open_)
    for row in resolved:
        assert ISO_DATETIME.match(row["resolved_at"])
        assert row["resolved_at"] > row["at"]
        assert datetime.datetime.fromisoformat(row["resolved_at"]).date() < TODAY
        assert row["resolution_note"]
    assert all(f["resolution_note"] is None for f in open_)
    others = [f for f in business.feedback if f["type"] != "complaint"]
    assert all(f["resolved_at"] is None and f["resolution_note"] is None for f in others)


def test_ratings_follow_feedback_type(business):
    ratings = defaultdict(list)
    for row in business.feedback:
        assert row["rating"] is None or row["rating"] in range(1, 6)
        assert row["category"] in {"delivery", "quality", "price", "service", "staff"}
        assert row["note"]
        if row["rating"] is not None:
            ratings[row["type"]].append(row["rating"])
    assert max(ratings["complaint"]) <= 3
    assert min(ratings["compliment"]) >= 4
    assert statistics.mean(ratings["complaint"]) < statistics.mean(ratings["compliment"]) - 2


def test_complaints_raise_drop_out():
    """After a purchase followed by a complaint, a further purchase is clearly less likely."""
    business = generate(5000, seed=1, today=TODAY)
    histories = purchases_by_customer(business)
    complaint_days = defaultdict(list)
    for row in business.feedback:
        if row["type"] == "complaint":
            complaint_days[row["customer"]].append(datetime.datetime.fromisoformat(row["at"]))
    repeated = {True: [], False: []}
    for customer, history in histories.items():
        for position, bought in enumerate(history):
            # Only purchases old enough that a next one would have had time to happen.
            if (TODAY - bought.date()).days < 365:
                continue
            complained = any(datetime.timedelta(0) <= c - bought <= datetime.timedelta(days=4)
                             for c in complaint_days[customer])
            repeated[complained].append(position + 1 < len(history))
    assert len(repeated[True]) >= 100
    assert statistics.mean(repeated[True]) < statistics.mean(repeated[False]) - 0.1
