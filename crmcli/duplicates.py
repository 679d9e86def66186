"""Finding customers recorded twice, and merging two records of one person.

A pair is a likely duplicate, strongest reason first, when the two have:
  1. the same email as values.email_key compares them (the domain per IDNA, the local
     part exactly but for A-Z case), the rule of REF and imports;
  2. the same phone number once formatting is dropped: the digits of values.phone_digits,
     compared on their last 9 (so +44 20 7946 0018 and 020 7946 0018 match); numbers
     with fewer than 7 digits are not compared;
  3. the same name once case, accents, punctuation and word order are dropped
     ('Nguyễn Văn An' = 'nguyen van an' = 'An, Nguyen Van'): the same values.name_key;
  4. very similar names: the folded names (5 letters or more) differ by about one
     typo (one letter added, dropped, changed or two swapped) and are at least 85%
     alike.

Rules 2 and 3 read the keys REF uses, stored in customers.phone_key and name_key
(crmcli.refs), and `crm customer add` warns by the same two. Candidates are found with
keys in a temporary table and one self-join, not by comparing every pair, so the search
stays fast for many thousands of customers.
"""

from __future__ import annotations

import difflib
from typing import Any

from crmcli import customers, history, interactions, refs, values
from crmcli.db import Connection
from crmcli.errors import InvalidInput

SAME_EMAIL, SAME_PHONE, SAME_NAME, SIMILAR_NAME = 1, 2, 3, 4
REASONS = {
    SAME_EMAIL: "same email",
    SAME_PHONE: "same phone number",
    SAME_NAME: "same name",
    SIMILAR_NAME: "similar name",
}
PHONE_DIGITS_COMPARED = refs.SAME_PHONE_DIGITS
MIN_PHONE_DIGITS = values.MIN_PHONE_DIGITS
MIN_SIMILAR_LENGTH = 5
MIN_SIMILARITY = 0.85

COLUMNS = ("customer_id", "name", "email", "phone", "duplicate_id", "duplicate_name", "duplicate_email",
           "duplicate_phone", "reason")


def phone_key(phone: str | None) -> str | None:
    """What rule 2 compares: the last PHONE_DIGITS_COMPARED digits (reversed, as stored), None if too short."""
    return _phone_tail(values.phone_key(phone))


def _phone_tail(stored_key: str | None) -> str | None:
    return stored_key[:PHONE_DIGITS_COMPARED] if stored_key and len(stored_key) >= MIN_PHONE_DIGITS else None


def _one_deletion_variants(text: str) -> set[str]:
    """text and every text with one character left out: two strings about one typo apart share one."""
    return {text} | {text[:n] + text[n + 1:] for n in range(len(text))}


def find(conn: Connection) -> list[dict[str, Any]]:
    """Likely duplicate pairs (older customer first), strongest reason first. Call inside db.snapshot."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS duplicate_keys (rule INTEGER, key TEXT, customer_id INTEGER)")
    conn.execute("DELETE FROM temp.duplicate_keys")
    try:
        batch: list[tuple[int, str, int]] = []
        # A forgotten person has no name left to match; two of them are not one person.
        missing = {k["id"]: k for k in refs.missing_keys(conn)}
        for row in conn.execute("SELECT id, email, name_key, phone_key FROM customers WHERE id NOT IN "
                                "(SELECT customer_id FROM customer_history WHERE action = 'forget')"):
            customer_id = row[0]
            if row[1]:
                batch.append((SAME_EMAIL, values.email_key(row[1]), customer_id))
            stored = missing.get(customer_id, row)
            key, phone = stored["name_key"], _phone_tail(stored["phone_key"])
            if phone:
                batch.append((SAME_PHONE, phone, customer_id))
            if key:
                batch.append((SAME_NAME, key, customer_id))
                compact = key.replace(" ", "")
                if len(compact) >= MIN_SIMILAR_LENGTH:
                    batch.extend((SIMILAR_NAME, variant, customer_id) for variant in _one_deletion_variants(compact))
            if len(batch) > 10_000:
                conn.executemany("INSERT INTO temp.duplicate_keys VALUES (?, ?, ?)", batch)
                batch.clear()
        conn.executemany("INSERT INTO temp.duplicate_keys VALUES (?, ?, ?)", batch)
        conn.execute("CREATE INDEX IF NOT EXISTS temp.duplicate_keys_key ON duplicate_keys (rule, key)")
        shared = conn.execute(
            """SELECT DISTINCT a.customer_id, b.customer_id, a.rule
                 FROM temp.duplicate_keys a
                 JOIN temp.duplicate_keys b ON b.rule = a.rule AND b.key = a.key AND b.customer_id > a.customer_id"""
        ).fetchall()
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.duplicate_keys")
    pairs: dict[tuple[int, int], set[int]] = {}
    for first, second, rule in shared:
        pairs.setdefault((first, second), set()).add(int(rule))
    found = []
    for (first, second), rule_set in pairs.items():
        rules = sorted(rule_set)
        a, b = customers.get(conn, first), customers.get(conn, second)
        if rules == [SIMILAR_NAME]:
            # One shared deletion variant is only a candidate: confirm the names really are alike.
            key_a, key_b = values.name_key(a["name"]), values.name_key(b["name"])
            if difflib.SequenceMatcher(None, key_a, key_b).ratio() < MIN_SIMILARITY:
                continue
        if SAME_NAME in rules and SIMILAR_NAME in rules:
            rules.remove(SIMILAR_NAME)
        found.append({
            "customer_id": a["id"], "name": a["name"], "email": a["email"], "phone": a["phone"],
            "duplicate_id": b["id"], "duplicate_name": b["name"], "duplicate_email": b["email"],
            "duplicate_phone": b["phone"], "reason": "; ".join(REASONS[rule] for rule in rules), "_rank": rules[0],
        })
    found.sort(key=lambda pair: (pair["_rank"], pair["customer_id"], pair["duplicate_id"]))
    for pair in found:
        del pair["_rank"]
    return found


def _same(field: str, a: str, b: str) -> bool:
    if field == "phone" and phone_key(a) and phone_key(a) == phone_key(b):
        return True
    if field == "email":
        return values.email_key(a) == values.email_key(b)
    return values.fold(a) == values.fold(b)


def merge(conn: Connection, keep_id: int, duplicate_id: int) -> dict[str, Any]:
    """Fold customer `duplicate_id` into `keep_id` (call inside a transaction).

    Every interaction, feedback, follow-up and tag moves to KEEP; KEEP's empty fields are
    filled from DUP (and the earlier `since` is kept); DUP's values that differ
    from KEEP's are not lost but added to KEEP's note; DUP is deleted.
    """
    if keep_id == duplicate_id:
        raise InvalidInput("merge", duplicate_id, "is the same customer as KEEP; give two different customers")
    keep = customers.get(conn, keep_id)
    duplicate = customers.get(conn, duplicate_id)
    # customer_summary's per-row triggers would recompute both customers once per row moved (a
    # customer with thousands of receipts: seconds); set aside, the two are recomputed once.
    aside = interactions.SummaryAside(conn)
    aside.touch_ids((keep_id, duplicate_id))
    moved = {
        "interactions": conn.execute("UPDATE interactions SET customer_id = ? WHERE customer_id = ?",
                                     (keep_id, duplicate_id)).rowcount,
        "feedback": conn.execute("UPDATE feedback SET customer_id = ? WHERE customer_id = ?",
                                 (keep_id, duplicate_id)).rowcount,
        "followups": conn.execute("UPDATE followups SET customer_id = ? WHERE customer_id = ?",
                                  (keep_id, duplicate_id)).rowcount,
    }
    aside.restore()
    new_tags = [tag for tag in duplicate["tags"] if tag not in keep["tags"]]
    filled: dict[str, Any] = {}
    differing: list[str] = []
    for field in ("email", "phone", "company", "external_id"):
        theirs, ours = duplicate[field], keep[field]
        if theirs and not ours:
            filled[field] = theirs
        elif theirs and not _same(field, theirs, ours):
            differing.append(f"{field} {theirs}")
    if values.fold(duplicate["name"]) != values.fold(keep["name"]):
        differing.insert(0, f"name {duplicate['name']}")
    if duplicate["since"] and (not keep["since"] or duplicate["since"] < keep["since"]):
        filled["since"] = duplicate["since"]
    notes = [keep["note"]] if keep["note"] else []
    if duplicate["note"] and duplicate["note"] != keep["note"]:
        if keep["note"]:
            differing.append(f"note {duplicate['note']}")
        else:
            notes.append(duplicate["note"])
            filled["note"] = duplicate["note"]
    if differing:
        notes.append(f"merged from customer {duplicate_id}: " + "; ".join(differing))
    # DUP goes first: its email and external_id are unique and may be about to move to KEEP.
    history_before = history.last_id(conn)
    conn.execute("DELETE FROM customers WHERE id = ?", (duplicate_id,))
    edits: dict[str, Any] = {field: filled[field] for field in ("email", "phone", "company") if field in filled}
    note = "\n".join(notes) if notes else None
    if note != keep["note"]:
        edits["note"] = note
    if edits or new_tags:
        customers.edit(conn, keep_id, add_tags=new_tags, **edits)
    direct = {field: filled[field] for field in ("external_id", "since") if field in filled}
    if direct:
        assignments = ", ".join(f"{field} = ?" for field in direct)
        conn.execute(f"UPDATE customers SET {assignments} WHERE id = ?", (*direct.values(), keep_id))
    history.mark_merge(conn, keep_id, duplicate_id, since=history_before)
    return {
        "kept": keep_id, "kept_name": keep["name"], "removed": duplicate_id, "removed_name": duplicate["name"],
        "interactions": moved["interactions"], "feedback": moved["feedback"], "tags": len(new_tags),
        "filled": sorted(filled),
    }
