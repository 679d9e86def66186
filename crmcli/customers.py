"""Customers: add, find, list, show, edit, delete. Functions take a connection and
return plain data; they raise CrmError and never print."""

from __future__ import annotations

from typing import Any

from crmcli import refs, values
from crmcli.db import Connection
from crmcli.errors import Conflict, InvalidInput, NotFound

SQLITE_MAX_INTEGER = refs.SQLITE_MAX_INTEGER

# What `customer list` returns, in order: the CSV columns README documents. `purchases` counts purchase
# days, as everywhere in crm (README, "Definitions"); `purchase_records` counts the purchase rows.
LIST_COLUMNS = (
    "id", "name", "email", "phone", "company", "tags", "since",
    "purchases", "revenue", "last_purchase", "open_complaints", "purchase_records",
)


def _clean_tags(tags: list[str] | tuple[str, ...], field: str = "tag") -> list[str]:
    cleaned = []
    for tag in tags:
        value = values.text(tag, field, required=True)
        if "," in value or ";" in value:
            raise InvalidInput(field, tag, "must not contain ',' or ';'")
        cleaned.append(value.lower())
    return sorted(set(cleaned))


def _check_email_free(conn: Connection, email: str | None, except_id: int | None = None) -> None:
    if email is None:
        return
    row = conn.execute(
        "SELECT id, name FROM customers WHERE email_key = ? AND id IS NOT ?", (values.email_key(email), except_id)
    ).fetchone()
    if row:
        raise Conflict(f"{email!r} already belongs to customer {row['id']} ({row['name']})", field="email")


def add(
    conn: Connection,
    name: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    tags: list[str] | tuple[str, ...] = (),
    note: str | None = None,
    external_id: str | None = None,
    since: str | None = None,
    customer_id: int | None = None,
) -> int:
    """Insert one customer (call inside a transaction) and return its id.

    customer_id (an import's id column) is taken if no customer has ever had it; by
    default the id is one more than any ever used. Someone with the same phone or folded
    name is no reason to refuse (two people can share both): look_alikes(conn, new_id)
    names them, for the caller to point at `crm customer duplicates`.
    """
    name = values.text(name, "name", required=True)
    email = values.email(email)
    phone = values.text(phone, "phone")
    company = values.text(company, "company")
    note = values.text(note, "note")
    external_id = values.text(external_id, "external_id")
    since_day = values.day(since, "since")
    tag_list = _clean_tags(tags)
    _check_email_free(conn, email)
    refs.refill(conn)  # keys other programs left out of date: this is crm's next write
    if external_id is not None and conn.execute(
        "SELECT 1 FROM customers WHERE external_id = ?", (external_id,)
    ).fetchone():
        raise Conflict(f"{external_id!r} already belongs to another customer", field="external_id")
    if customer_id is None:
        customer_id = _next_id(conn)
    elif conn.execute("SELECT 1 FROM customers WHERE id = ? UNION ALL "
                      "SELECT 1 FROM customer_history WHERE customer_id = ? LIMIT 1",
                      (customer_id, customer_id)).fetchone():
        raise Conflict(f"{customer_id} is or was another customer's, and ids are never reused; "
                       "leave the id empty to give this customer a new one", field="id")
    stamp = values.now().isoformat()
    conn.execute(
        """INSERT INTO customers (id, name, email, email_key, phone, company, note, external_id, since,
                                  created_at, updated_at, name_key, phone_key, search_text)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            customer_id, name, email, values.email_key(email) if email else None, phone, company, note, external_id,
            (since_day or values.now().date()).isoformat(),
            stamp, stamp, *values.customer_keys(name, email, phone, company),
        ),
    )
    if tag_list:
        conn.executemany(
            "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [(customer_id, t) for t in tag_list]
        )
        # The history trigger cannot tell these tags from a later edit: they are part of the add.
        conn.execute("UPDATE customer_history SET action = 'add', at = ? WHERE customer_id = ? AND field = 'tag'",
                     (stamp, customer_id))
    return customer_id


def _next_id(conn: Connection) -> int:
    """One more than any id ever used, even by a customer since deleted.

    SQLite would reuse the highest id after a delete; then a new person would
    inherit the deleted one's history (and anyone's note saying "customer 17").
    Both maxima are index lookups.
    """
    highest = conn.execute(
        "SELECT coalesce(max(highest), 0) FROM (SELECT max(id) AS highest FROM customers "
        "UNION ALL SELECT max(customer_id) FROM customer_history) AS used"
    ).fetchone()[0]
    if highest >= SQLITE_MAX_INTEGER:
        raise Conflict(f"id: customer ids are used up to {highest}, the largest SQLite can store (an import set it); "
                       "no new customer can get an id")
    return highest + 1


def resolve(conn: Connection, ref: str) -> int:
    """The one customer REF means: id, email, external id, phone number or name, by the rules of
    crmcli.refs (README, "REF"). Several matches are an error listing them, never a pick."""
    return refs.resolve(conn, ref)


def look_alikes(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Other customers with the same phone number or folded name (id, name, email, reason)."""
    return refs.look_alikes(conn, customer_id)


def resolve_optional(conn: Connection, ref: str | None) -> int | None:
    """resolve(), for the optional REF of a list command: None means every customer."""
    return None if ref is None else resolve(conn, ref)


def count(conn: Connection) -> int:
    return conn.execute("SELECT count(*) FROM customers").fetchone()[0]


def list_customers(
    conn: Connection, *, tag: str | None = None, search: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    where: list[str] = []
    params: list[Any] = []
    if tag:
        where.append("c.id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)")
        params.append(tag.strip().lower())
    if search:
        condition, search_params = refs.search_condition(conn, search)
        where.append(condition)
        params.extend(search_params)
    # The limit in SQL, and each listed customer's totals from customer_summary (migrations.M008,
    # kept on write): a page of 20 reads 20 summary rows, whatever the size of the shop.
    query = f"""
        SELECT c.id, c.name, c.email, c.phone, c.company,
               (SELECT group_concat(tag, ';') FROM (SELECT tag FROM customer_tags t
                 WHERE t.customer_id = c.id ORDER BY tag) AS ordered) AS tags,
               c.since, s.purchase_days AS purchases, s.net_revenue_cents AS net_cents,
               s.last_purchase_day AS last_purchase,
               (SELECT count(*) FROM feedback f WHERE f.customer_id = c.id
                 AND f.type = 'complaint' AND f.resolved_at IS NULL) AS open_complaints,
               s.purchase_records
          FROM customers c
          LEFT JOIN customer_summary s ON s.customer_id = c.id
         {"WHERE " + " AND ".join(where) if where else ""}
         ORDER BY c.id {"LIMIT ?" if limit else ""}"""
    if limit:
        params.append(limit)
    return [_with_revenue(dict(row)) for row in conn.execute(query, params)]


_SUMMARY_SQL = """SELECT purchase_days AS purchases, purchase_records, net_revenue_cents AS net_cents,
                         purchase_cents, first_purchase_day AS first_purchase, last_purchase_day AS last_purchase
                    FROM customer_summary WHERE customer_id = ?"""


def _with_revenue(row: dict[str, Any]) -> dict[str, Any]:
    net_cents = row.pop("net_cents", None) or 0
    row["purchases"] = row.get("purchases") or 0
    if "purchase_records" in row:
        row["purchase_records"] = row["purchase_records"] or 0
    if "tags" in row:
        row["tags"] = row["tags"].split(";") if row["tags"] else []
    row["revenue"] = values.cents_to_amount(net_cents)
    return row


def get(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, name, email, phone, company, note, external_id, since, created_at, updated_at "
        "FROM customers WHERE id = ?",
        (customer_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"customer: no customer with id {customer_id}")
    customer = dict(row)
    customer["tags"] = [r["tag"] for r in conn.execute(
        "SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", (customer_id,))]
    return customer


def profile(conn: Connection, customer_id: int, *, timeline_limit: int = 15) -> dict[str, Any]:
    """Everything `customer show` prints: profile, purchase stats, open complaints, recent timeline."""
    customer = get(conn, customer_id)
    stats = conn.execute(_SUMMARY_SQL, (customer_id,)).fetchone()
    stats = _with_revenue(dict(stats) if stats else {})
    purchases = stats["purchases"]
    purchase_cents = stats.pop("purchase_cents", 0)
    stats.setdefault("purchase_records", 0)
    # Per purchase day, like the models' transactions: two receipts on one day are one purchase.
    stats["average_purchase"] = values.cents_to_amount(round(purchase_cents / purchases)) if purchases else None
    open_complaints = [dict(r) for r in conn.execute(
        "SELECT id, at, category, rating, staff AS by, note FROM feedback "
        "WHERE customer_id = ? AND type = 'complaint' AND resolved_at IS NULL ORDER BY at",
        (customer_id,),
    )]
    timeline = [dict(r) for r in conn.execute(
        """SELECT at, kind, type, amount_cents, by, note FROM (
             SELECT at, 'interaction' AS kind, type, amount_cents, staff AS by, note, id
               FROM interactions WHERE customer_id = :id
             UNION ALL
             SELECT at, 'feedback', type, NULL,  staff, note, id FROM feedback WHERE customer_id = :id
           ) AS events ORDER BY at DESC, id DESC LIMIT :limit""",
        {"id": customer_id, "limit": timeline_limit},
    )]
    for event in timeline:
        event["amount"] = values.cents_to_amount(event.pop("amount_cents"))
    return {"customer": customer, "stats": stats, "open_complaints": open_complaints, "timeline": timeline}


def edit(
    conn: Connection,
    customer_id: int,
    *,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    note: str | None = None,
    add_tags: list[str] | tuple[str, ...] = (),
    remove_tags: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """Change the given fields (None = leave as is; '' clears an optional field). Returns the new record."""
    current = get(conn, customer_id)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = values.text(name, "name", required=True)
    if email is not None:
        changes["email"] = values.email(email)
        changes["email_key"] = values.email_key(changes["email"]) if changes["email"] else None
        _check_email_free(conn, changes["email"], except_id=customer_id)
    for field, value in (("phone", phone), ("company", company), ("note", note)):
        if value is not None:
            changes[field] = values.text(value, field)
    to_add = _clean_tags(add_tags, "add-tag")
    to_remove = _clean_tags(remove_tags, "remove-tag")
    if not changes and not to_add and not to_remove:
        raise InvalidInput("edit", "", "nothing to change; give at least one option such as --email or --add-tag")
    refs.refill(conn)
    if changes:
        merged = {**current, **changes}
        changes["updated_at"] = values.now().isoformat()
        assignments = ", ".join(f"{field} = ?" for field in changes)
        conn.execute(f"UPDATE customers SET {assignments} WHERE id = ?", (*changes.values(), customer_id))
        # After the change: M006's trigger has just cleared the keys it makes stale.
        refs.store(conn, customer_id, merged["name"], merged["email"], merged["phone"], merged["company"])
    conn.executemany(
        "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(customer_id, t) for t in to_add]
    )
    conn.executemany(
        "DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?", [(customer_id, t) for t in to_remove]
    )
    return get(conn, customer_id)


def delete(conn: Connection, customer_id: int) -> dict[str, int]:
    """Delete a customer with their interactions, feedback and tags. Returns what was removed."""
    get(conn, customer_id)
    counts = {
        "interactions": conn.execute("SELECT count(*) FROM interactions WHERE customer_id = ?",
                                     (customer_id,)).fetchone()[0],
        "feedback": conn.execute("SELECT count(*) FROM feedback WHERE customer_id = ?", (customer_id,)).fetchone()[0],
    }
    conn.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
    return counts
