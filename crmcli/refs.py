"""Finding customers the way people type them: REF, `--search`, and the look-alikes of a new customer.

Each customer carries three keys computed by values.customer_keys and stored (migrations.M006), so
that finding someone is SQL alone: REF an index lookup, --search one scan inside SQLite with no
Python per row. The keys of a row that another program changed or inserted are missing (NULL
name_key, which its index finds at once): every lookup here computes those few in Python as it
reads, and refill() stores them at crm's next write. Functions take a connection, raise CrmError
and never print.

REF, first rule that applies wins (README, "REF"):
  1. all digits: the customer with that id; an id merged away or deleted says so; else, with
     MIN_PHONE_DIGITS digits or more, a phone number (rule 4)
  2. with an @: the email, by values.email_key
  3. an external id, exactly
  4. only phone characters (digits, spaces, - . ( ) + /): the number, by values.phone_digits; if no
     number has exactly those digits, the one number that ends with them (a national 0917 555 0101
     for +63 917 555 0101) or whose digits they end with
  5. a name: the same folded words in any order (values.name_key); among several, those whose
     name is exactly the REF but for case win
  6. part of a name: every folded word of the REF begins a word of the name
Several customers at any rule is an error that lists them, never a pick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crmcli import values
from crmcli.db import Connection
from crmcli.errors import Conflict, InvalidInput, NotFound

SQLITE_MAX_INTEGER = 2**63 - 1
LISTED = 10  # candidates an ambiguity error names
MAX_PHONE_DIGITS = 20  # E.164 allows 15; more is an extension, or hostile text that would be thousands of parameters
SAME_PHONE_DIGITS = 9  # the last 9 digits make two numbers "the same phone" (+44 20 7946 0018, 020 7946 0018)

Keys = dict[str, Any]


def store(conn: Connection, customer_id: int, name: str, email: str | None, phone: str | None,
          company: str | None) -> None:
    """Write the customer's keys (after the change they come from: M006's trigger clears them)."""
    conn.execute("UPDATE customers SET name_key = ?, phone_key = ?, search_text = ? WHERE id = ?",
                 (*values.customer_keys(name, email, phone, company), customer_id))


def erase(conn: Connection, customer_id: int) -> None:
    """A forgotten person's keys: empty (not NULL, which would mean "compute them")."""
    conn.execute("UPDATE customers SET name_key = '', phone_key = NULL, search_text = '' WHERE id = ?",
                 (customer_id,))


def missing_keys(conn: Connection) -> list[Keys]:
    """The rows whose keys another program left out of date, with their keys computed now."""
    found = []
    for row in conn.execute("SELECT id, name, email, phone, company FROM customers WHERE name_key IS NULL"):
        name_key, phone_key, search_text = values.customer_keys(row["name"], row["email"], row["phone"],
                                                                row["company"])
        found.append({"id": row["id"], "name": row["name"], "email": row["email"], "name_key": name_key,
                      "phone_key": phone_key, "search_text": search_text})
    return found


def refill(conn: Connection) -> int:
    """Store the missing keys (inside a write transaction); how many rows had none."""
    stale = missing_keys(conn)
    conn.executemany("UPDATE customers SET name_key = ?, phone_key = ?, search_text = ? WHERE id = ?",
                     [(k["name_key"], k["phone_key"], k["search_text"], k["id"]) for k in stale])
    return len(stale)


def _matching(conn: Connection, condition: str, params: list[Any],
              test: Callable[[Keys], bool]) -> list[dict[str, Any]]:
    """Customers (id, name, email) whose stored keys meet `condition`, or whose missing keys pass `test`."""
    rows = [dict(row) for row in conn.execute(
        f"SELECT id, name, email FROM customers WHERE name_key IS NOT NULL AND ({condition}) ORDER BY id", params)]
    rows += [{"id": k["id"], "name": k["name"], "email": k["email"]} for k in missing_keys(conn) if test(k)]
    return sorted(rows, key=lambda row: row["id"])


def _one(rows: list[dict[str, Any]], ref: str, missing: str) -> int:
    if len(rows) == 1:
        return rows[0]["id"]
    if not rows:
        raise NotFound(missing, field="customer")
    listed = "; ".join(f"{r['id']} {r['name']}" + (f" <{r['email']}>" if r["email"] else "") for r in rows[:LISTED])
    more = f" and {len(rows) - LISTED} more" if len(rows) > LISTED else ""
    raise Conflict(f"{ref!r} matches {len(rows)} customers: {listed}{more}; use the id or email", field="customer")


def resolve(conn: Connection, ref: str) -> int:
    """The one customer REF means, by the rules of this module's docstring."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInput("customer", ref, "is empty; give an id, an email, a name or a phone number")
    if ref.isascii() and ref.isdigit():
        return _by_id(conn, ref)
    if "@" in ref:
        row = conn.execute("SELECT id FROM customers WHERE email_key = ?", (values.email_key(ref),)).fetchone()
        if row is None:
            raise NotFound(f"no customer with email {ref!r}", field="customer")
        return row["id"]
    row = conn.execute("SELECT id FROM customers WHERE external_id = ?", (ref,)).fetchone()
    if row is not None:
        return row["id"]
    if values.looks_like_phone(ref):
        return _one(by_phone(conn, ref), ref, f"no customer with phone number {ref!r}")
    return _one(by_name(conn, ref), ref, f"no customer named {ref!r}")


def _by_id(conn: Connection, ref: str) -> int:
    # An id beyond SQLite's integer range cannot exist (and would not fit in the query); the length
    # first, as int() refuses more than 4,300 digits.
    number = int(ref) if len(ref.lstrip("0")) <= len(str(SQLITE_MAX_INTEGER)) else SQLITE_MAX_INTEGER + 1
    if number <= SQLITE_MAX_INTEGER:
        row = conn.execute("SELECT id FROM customers WHERE id = ?", (number,)).fetchone()
        if row is not None:
            return row["id"]
        if (into := merged_into(conn, number)) is not None:
            raise NotFound(f"customer {number} was merged into {into}; use {into}", field="customer")
    if len(ref) >= values.MIN_PHONE_DIGITS and (phones := by_phone(conn, ref)):
        return _one(phones, ref, "")
    if number <= SQLITE_MAX_INTEGER and conn.execute(
            "SELECT 1 FROM customer_history WHERE customer_id = ? AND action = 'delete'", (number,)).fetchone():
        raise NotFound(f"customer {number} was deleted (crm customer history {number} shows what it was)",
                       field="customer")
    raise NotFound(f"no customer with id {ref}", field="customer")


def by_phone(conn: Connection, text: str) -> list[dict[str, Any]]:
    """Customers whose number has exactly the digits of `text`; else those whose number ends with them or
    whose digits they end with (values.phone_digits; MIN_PHONE_DIGITS at least)."""
    key = values.phone_key(text)
    if key is None or len(key) < values.MIN_PHONE_DIGITS:
        return []
    exact = _matching(conn, "phone_key = ?", [key], lambda k: k["phone_key"] == key)
    if exact:
        return exact
    # Reversed digits: "ends with KEY" is a prefix (a range), "KEY ends with it" one of KEY's prefixes.
    shorter = [key[:n] for n in range(values.MIN_PHONE_DIGITS, min(len(key), MAX_PHONE_DIGITS + 1))]
    condition = f"(phone_key > ? AND phone_key < ?) OR phone_key IN ({', '.join('?' * len(shorter)) or 'NULL'})"
    return _matching(conn, condition, [key, key + ":", *shorter],
                     lambda k: bool(k["phone_key"]) and (k["phone_key"].startswith(key) or k["phone_key"] in shorter))


def by_name(conn: Connection, text: str) -> list[dict[str, Any]]:
    """Customers named `text` (folded, words in any order; the exactly typed name first), else those
    whose name has a word beginning with each word of it."""
    key = values.name_key(text)
    if not key:
        return []
    same = _matching(conn, "name_key = ?", [key], lambda k: k["name_key"] == key)
    if same:
        exact = [row for row in same if values.fold(row["name"]) == values.fold(text)]
        return exact or same
    starts = [" " + word for word in key.split()]
    return _matching(conn, " AND ".join("instr(' ' || name_key, ?) > 0" for _ in starts), starts,
                     lambda k: all(start in " " + k["name_key"] for start in starts))


def search_condition(conn: Connection, text: str, alias: str = "c") -> tuple[str, list[Any]]:
    """SQL (over customers AS alias) for `--search TEXT`: every folded word of TEXT, in any order, in the
    folded name, email or company, or TEXT's digits in the phone number if it looks like one."""
    words = [values.phone_digits(text)] if values.looks_like_phone(text) else values.search_fold(text).split()
    if not words:
        raise InvalidInput("search", text, "has no letters or digits to look for")
    condition = " AND ".join(f"instr({alias}.search_text, ?) > 0" for _ in words)
    params: list[Any] = list(words)
    stale = [k["id"] for k in missing_keys(conn) if all(word in k["search_text"] for word in words)]
    if stale:
        stale_ids = f"{alias}.id IN (SELECT value FROM json_each(?))"
        condition = f"(({alias}.name_key IS NOT NULL AND {condition}) OR {stale_ids})"
        params.append(json.dumps(stale))
    return condition, params


def merged_into(conn: Connection, customer_id: int) -> int | None:
    """The customer a merged-away record went into, following further merges to one that exists."""
    seen = set()
    while customer_id not in seen:
        seen.add(customer_id)
        row = conn.execute("SELECT new_value FROM customer_history WHERE customer_id = ? AND field = 'merged_into' "
                           "ORDER BY id DESC LIMIT 1", (customer_id,)).fetchone()
        if row is None:
            return None if len(seen) == 1 else customer_id
        customer_id = int(row[0])
        if conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone():
            return customer_id
    return None


def look_alikes(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Other customers who may be this one (`crm customer duplicates`' rules 2 and 3, by index): the same
    phone (the last SAME_PHONE_DIGITS digits) or the same folded name. Forgotten people never match."""
    row = conn.execute("SELECT name, email, phone, company FROM customers WHERE id = ?", (customer_id,)).fetchone()
    name_key, phone_key, _ = values.customer_keys(row["name"], row["email"], row["phone"], row["company"])
    found: dict[int, dict[str, Any]] = {}

    def note(rows: list[dict[str, Any]], reason: str) -> None:
        for other in rows:
            if other["id"] != customer_id:
                found.setdefault(other["id"], {**other, "reasons": []})["reasons"].append(reason)

    if phone_key and len(phone_key) >= values.MIN_PHONE_DIGITS:
        tail = phone_key[:SAME_PHONE_DIGITS]
        if len(tail) == SAME_PHONE_DIGITS:
            same_phone = _matching(conn, "phone_key >= ? AND phone_key < ?", [tail, tail + ":"],
                                   lambda k: (k["phone_key"] or "").startswith(tail))
        else:
            same_phone = _matching(conn, "phone_key = ?", [tail], lambda k: k["phone_key"] == tail)
        note(same_phone, "same phone number")
    if name_key:
        note(_matching(conn, "name_key = ?", [name_key], lambda k: k["name_key"] == name_key), "same name")
    return [{"id": i, "name": r["name"], "email": r["email"], "reason": "; ".join(r["reasons"])}
            for i, r in sorted(found.items())]
