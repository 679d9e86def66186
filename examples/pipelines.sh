#!/usr/bin/env bash
# Pipeline recipes: crm's CSV and JSON Lines output is stable, complete and undecorated,
# so standard tools can consume it. Each recipe is run by tests/cli/test_examples.py
# (copy-customers by tests/cli/test_import_pipeline.py).
set -euo pipefail

recipe=${1:?usage: pipelines.sh RECIPE (top-ids | at-risk-emails | tag-jsonl | revenue-total | copy-customers DB)}

case "$recipe" in
  top-ids)
    # The ids of the 5 best customers by predicted value, smallest id first.
    # rank and customer_id are the first two CSV columns and never need quoting.
    crm report best --limit 5 --format csv | tail -n +2 | cut -d, -f2 | sort -n
    ;;
  at-risk-emails)
    # Emails of customers more than 70% likely to have left, worth the most first.
    crm report churn --min-risk 0.7 --limit 0 --format jsonl \
      | python3 -c 'import json, sys
for line in sys.stdin:
    row = json.loads(line)
    if row["email"]:
        print(row["email"])'
    ;;
  tag-jsonl)
    # Customers with a tag, as JSON Lines, into a script: name and purchase count.
    crm customer list --tag "${2:-newsletter}" --format jsonl \
      | python3 -c 'import json, sys
for line in sys.stdin:
    row = json.loads(line)
    print(row["purchases"], row["name"], sep="\t")'
    ;;
  revenue-total)
    # Total revenue of all customers, exact to the cent. Read the CSV with a real CSV
    # parser rather than splitting on commas: names and companies may contain commas.
    crm customer list --format csv \
      | python3 -c 'import csv, sys
from decimal import Decimal
print(sum(Decimal(row["revenue"]) for row in csv.DictReader(sys.stdin)))'
    ;;
  copy-customers)
    # The customers, ids, tags, phones and since included, into another database (made if it is not
    # there); the listing's columns that are not customer details (purchases, revenue...) are left
    # out with a note. Run again, it adds nothing: every customer is already there.
    # (tests/cli/test_import_pipeline.py)
    crm customer list --format csv \
      | crm --db "${2:?usage: pipelines.sh copy-customers TARGET_DB}" customer import - --ignore-extra
    ;;
  *)
    echo "unknown recipe: $recipe" >&2
    exit 2
    ;;
esac
