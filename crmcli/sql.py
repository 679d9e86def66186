"""SQL fragments for the business definitions: each written once, used by every query (and the view).

They are expressions over rows of `interactions` (columns type, at, amount_cents), to put inside
a SELECT that filters and groups as it needs. README, "Definitions", says the same in words.
"""

from __future__ import annotations


def day_of(column: str) -> str:
    """The day of a stored moment: 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS', so its first ten characters."""
    return f"substr({column}, 1, 10)"


DAY = day_of("at")

# A purchase day (the models' transaction): a calendar day with one or more purchases.
PURCHASE_DAYS = f"count(DISTINCT CASE WHEN type = 'purchase' THEN {DAY} END)"
FIRST_PURCHASE_DAY = f"min(CASE WHEN type = 'purchase' THEN {DAY} END)"
LAST_PURCHASE_DAY = f"max(CASE WHEN type = 'purchase' THEN {DAY} END)"

# What one interaction adds to revenue: a purchase its amount, a refund minus its amount, anything
# else nothing. An amount left empty by another program counts as 0.
REVENUE_CENTS_OF_ROW = ("CASE type WHEN 'purchase' THEN coalesce(amount_cents, 0) "
                        "WHEN 'refund' THEN -coalesce(amount_cents, 0) ELSE 0 END")

# Net revenue of the rows grouped: purchases minus refunds, in cents, 0 for none.
NET_REVENUE_CENTS = f"coalesce(sum({REVENUE_CENTS_OF_ROW}), 0)"

# Purchases alone (the spend the models and averages use), in cents.
PURCHASE_CENTS = "coalesce(sum(CASE WHEN type = 'purchase' THEN amount_cents END), 0)"

# The customer_summary table (migrations.M008, M010): per customer with purchases or refunds, the figures
# above, kept by triggers in the same transaction as every change to interactions. Its columns, in
# order, and the one query that computes them; triggers, the migration's backfill, the importer's
# recompute and the tests' check all use this text, so the summary and the aggregate cannot differ.
# M008 made the first seven (its text and M009's, which have shipped, are made from SUMMARY_COLUMNS_M008);
# M010 added first_day_cents, the purchases of the first purchase day (the models' m leaves that day out).
SUMMARY_COLUMNS_M008 = ("customer_id", "purchase_days", "purchase_records", "net_revenue_cents", "purchase_cents",
                        "first_purchase_day", "last_purchase_day")
SUMMARY_COLUMNS = (*SUMMARY_COLUMNS_M008, "first_day_cents")


def first_day_cents(summary: str, also: str | None = None) -> str:
    """The purchases (cents, 0 for none) of the customer of the row `summary` (an alias with customer_id
    and first_purchase_day) on that first purchase day: a range of interactions_customer_type_at, the
    day rule checked on each row. `also`: an SQL condition on the purchase rows (its bare column names
    are theirs), e.g. 'id = new.id' for one row's share."""
    condition = f" AND {also}" if also else ""
    return (f"(SELECT coalesce(sum(o.amount_cents), 0) FROM interactions o "
            f"WHERE o.customer_id = {summary}.customer_id AND o.type = 'purchase' "
            f"AND o.at >= {summary}.first_purchase_day AND o.at < {summary}.first_purchase_day || char(1114111) "
            f"AND {day_of('o.at')} = {summary}.first_purchase_day{condition})")


def summary_of(customers: str, *, named: bool = False, columns: tuple[str, ...] = SUMMARY_COLUMNS) -> str:
    """SELECT the customer_summary rows, from interactions, of the customers for whom the SQL condition
    `customers` on customer_id holds (e.g. 'customer_id = new.customer_id'); none for a customer with no
    purchase or refund. Index-only through interactions_customer_type_at. named: each column AS its
    SUMMARY_COLUMNS name. columns: SUMMARY_COLUMNS_M008 for the text of M008 and M009, which have shipped
    (M008's is the unnamed form); with first_day_cents, one more index range per customer, limited to
    the rows of `customers` too (so that the share of one row, 'id = new.id', is that row's alone)."""
    figures = ["customer_id", PURCHASE_DAYS, "sum(type = 'purchase')", NET_REVENUE_CENTS, PURCHASE_CENTS,
               FIRST_PURCHASE_DAY, LAST_PURCHASE_DAY]
    if named or columns != SUMMARY_COLUMNS_M008:
        figures = [f"{figure} AS {name}" for figure, name in zip(figures, SUMMARY_COLUMNS_M008, strict=True)]
    query = (f"SELECT {', '.join(figures)} FROM interactions "
             f"WHERE type IN ('purchase', 'refund') AND {customers} GROUP BY customer_id")
    if columns == SUMMARY_COLUMNS_M008:
        return query
    return f"SELECT s.*, {first_day_cents('s', customers)} AS first_day_cents FROM ({query}) s"


def refresh_summary(customers: str, *, columns: tuple[str, ...] = SUMMARY_COLUMNS) -> list[str]:
    """The statements that make customer_summary right for the customers of the condition `customers`
    (columns: as summary_of's)."""
    return [f"DELETE FROM customer_summary WHERE {customers}",
            f"INSERT INTO customer_summary ({', '.join(columns)}) {summary_of(customers, columns=columns)}"]
