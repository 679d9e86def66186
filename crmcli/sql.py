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

# The customer_summary table (migrations.M008): per customer with purchases or refunds, the figures
# above, kept by triggers in the same transaction as every change to interactions. Its columns, in
# order, and the one query that computes them; triggers, the migration's backfill, the importer's
# recompute and the tests' check all use this text, so the summary and the aggregate cannot differ.
SUMMARY_COLUMNS = ("customer_id", "purchase_days", "purchase_records", "net_revenue_cents", "purchase_cents",
                   "first_purchase_day", "last_purchase_day")


def summary_of(customers: str, *, named: bool = False) -> str:
    """SELECT the customer_summary rows, from interactions, of the customers for whom the SQL condition
    `customers` on customer_id holds (e.g. 'customer_id = new.customer_id'); none for a customer with no
    purchase or refund. Index-only through interactions_customer_type_at. named: each column AS its
    SUMMARY_COLUMNS name (M008's text, which has shipped, is the unnamed form)."""
    figures = ["customer_id", PURCHASE_DAYS, "sum(type = 'purchase')", NET_REVENUE_CENTS, PURCHASE_CENTS,
               FIRST_PURCHASE_DAY, LAST_PURCHASE_DAY]
    if named:
        figures = [f"{figure} AS {name}" for figure, name in zip(figures, SUMMARY_COLUMNS, strict=True)]
    return (f"SELECT {', '.join(figures)} FROM interactions "
            f"WHERE type IN ('purchase', 'refund') AND {customers} GROUP BY customer_id")


def refresh_summary(customers: str) -> list[str]:
    """The statements that make customer_summary right for the customers of the condition `customers`."""
    return [f"DELETE FROM customer_summary WHERE {customers}",
            f"INSERT INTO customer_summary ({', '.join(SUMMARY_COLUMNS)}) {summary_of(customers)}"]
