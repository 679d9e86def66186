"""Every customer's external id and id, for an import that names more customers than its memo holds.

The bulk path (interactions.py) remembers each customer cell it has looked up, up to CACHE_LIMIT
entries, then starts again. A till export of a 1,000,000-customer shop names a million customers in
random order, so past the limit most rows were looked up again, each with its own query (about 6 us a
row: 17 million rows took 346 s, against 181 s for as many rows naming 100,000 customers). Once the memo
is full, the importer loads this directory instead: the external ids as one sorted array of UTF-8 bytes
and the ids beside them (16 MB for a million 8-character ids, where a dict of them took 130 MB), looked
up a chunk at a time with numpy's binary search.

Only cells that name a customer exactly as customer_keys() would read them are looked up here: printable
ASCII with no blank at either end and no formula apostrophe, so that unescape, strip and NFC change
nothing and the key is the cell itself. Every other cell, and a cell found nowhere (an unknown customer,
or one --create-missing made during this import), goes the usual way, which also says what is wrong.
numpy is imported only here, by an import that is past the memo's limit. In an SQLite file only: on a
server the importer already finds each chunk's customers with one query (look_up_customers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmcli import db
from crmcli.db import Connection

if TYPE_CHECKING:
    import numpy as np

# Beyond this many bytes of ids the directory is not built (ids of hundreds of characters): the memo
# then goes on as before.
MAX_BYTES = 64 << 20
_FETCH_ROWS = 20_000
NOT_FOUND = -1


def plain(cell: str) -> bool:
    """Whether customer_keys() reads this external id cell as itself (see the module's docstring)."""
    return cell.isascii() and cell.isprintable() and cell[:1] not in ("'", " ", "") and cell[-1] != " "


class Directory:
    """External id -> customer id for every customer who has one, as sorted arrays."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray):
        self.keys, self.ids = keys, ids

    @classmethod
    def load(cls, conn: Connection) -> Directory | None:
        """Every customer's external id (those without NUL, which an array of bytes cannot tell from
        shorter ids; another program may have written one) and id; None when they are too big to hold."""
        if db.is_server(conn):  # there look_up_customers already finds a chunk's customers in one query
            return None
        import numpy as np

        count, longest = conn.execute(
            "SELECT count(*), coalesce(max(length(CAST(external_id AS BLOB))), 0) FROM customers "
            "WHERE external_id IS NOT NULL").fetchone()
        if count == 0 or count * (max(longest, 1) + 8) > MAX_BYTES:
            return None
        keys = np.zeros(count, dtype=f"S{max(longest, 1)}")
        ids = np.zeros(count, dtype=np.int64)
        cursor = conn.execute("SELECT external_id, id FROM customers WHERE typeof(external_id) = 'text' "
                              "AND instr(external_id, char(0)) = 0")
        filled = 0
        while batch := cursor.fetchmany(_FETCH_ROWS):
            keys[filled:filled + len(batch)] = [row[0].encode() for row in batch]
            ids[filled:filled + len(batch)] = [row[1] for row in batch]
            filled += len(batch)
        keys, ids = keys[:filled], ids[:filled]
        order = np.argsort(keys, kind="stable")  # byte order, whatever the database's collation
        return cls(keys[order], ids[order])

    def find(self, cells: list[str]) -> list[int]:
        """Each cell's customer id, or NOT_FOUND where the cell is not plain or names no one here."""
        import numpy as np

        if not len(self.keys) or not cells:
            return [NOT_FOUND] * len(cells)
        # In the keys' own width: searchsorted would otherwise widen every key for each chunk. A longer
        # cell (which numpy would cut short, so it might match another id) is no one's, and stays out.
        width = self.keys.dtype.itemsize
        wanted = np.array([cell.encode() if len(cell) <= width and plain(cell) else b"" for cell in cells],
                          dtype=self.keys.dtype)
        where = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        found = (self.keys[where] == wanted) & (wanted != b"")
        return np.where(found, self.ids[where], NOT_FOUND).tolist()
