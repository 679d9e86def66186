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
