"""Importing CSV and JSON Lines files: customers, interactions (purchases, refunds, calls...) and feedback.

The promises, in the order they shape this package:

* All or nothing. One import is one transaction (run.py). By default a single bad
  row rolls everything back, and every bad row is reported as
  `line N, column C: what is wrong ('value')` (base.py). With skip_invalid the good
  rows go in and the bad ones are written, with an `error` column, to a rejects file.
* The same checks as typed data. Every value goes through crmcli.values (the
  one place dates, amounts, emails and ratings are parsed); customers and
  feedback go in through the core add functions (customers.py, feedback.py).
  Interactions, the big files (years of till receipts), take a bulk path
  (interactions.py): the same values.* parser per cell, run in worker processes
  on blocks of the file (blocks.py, workers.py), and rows written hundreds at a
  time by the main process (tests/benchmarks/bench_import.py: 1.7 million rows).
* Re-running is safe. Customers match on external_id, then email; interactions
  and feedback whose external_id is already recorded are skipped.
* Undo. Every import is a batch (import_batches) and every row it adds carries
  the batch id (batches.py).
* Constant memory. The file is read a line or a block at a time (stdin too);
  only a few blocks are in flight; the memo caches are bounded.

* Files as they come. --map renames the file's columns to crm's, --ignore-extra leaves out the
  ones crm does not know (header.py); a JSON Lines file's keys are its columns (jsonl.py), so
  `crm export --format jsonl` imports back.

The modules, in the order an import uses them: options (what is asked, what happened), header
(the first line, --map, --ignore-extra), run (one import), blocks and workers (reading the rows),
jsonl (reading JSON Lines), base and one module per kind (checking and writing them), indexes
(bulk writes), batches (list and undo).
"""

from crmcli.transfer.imports.batches import BATCH_COLUMNS, list_batches, undo
from crmcli.transfer.imports.customers import MAX_IMPORTED_ID
from crmcli.transfer.imports.header import COLUMNS, CUSTOMER_KEYS, ERROR_COLUMN, REQUIRED
from crmcli.transfer.imports.options import (
    FORMATS,
    KINDS,
    ON_CONFLICT,
    ImportFailed,
    Options,
    Result,
    check_date_format,
    format_of,
    parse_map,
    summary,
)
from crmcli.transfer.imports.run import import_csv

__all__ = [
    "BATCH_COLUMNS", "COLUMNS", "CUSTOMER_KEYS", "ERROR_COLUMN", "FORMATS", "KINDS", "MAX_IMPORTED_ID", "ON_CONFLICT",
    "REQUIRED", "ImportFailed", "Options", "Result", "check_date_format", "format_of", "import_csv", "list_batches",
    "parse_map", "summary", "undo",
]
