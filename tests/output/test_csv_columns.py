"""write_csv's column path (rows that offer column_chunks, as analytics.rows.ReportRows does) writes the
same bytes as its row path, the csv module's writerow, for any cells: text with delimiters, quotes, line
breaks and formula triggers, numbers of every kind, None, booleans; LF and CRLF line ends."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcli.output import formats
from crmcli.transfer import csvcells


class ColumnRows(list):
    """Row dicts that also come as column chunks (of `size` rows), like ReportRows."""

    def __init__(self, rows, size):
        super().__init__(rows)
        self.size = size
        self.asked = []

    def column_chunks(self, keys):
        self.asked.append(list(keys))
        for start in range(0, len(self), self.size):
            chunk = self[start:start + self.size]
            yield {key: [row[key] for row in chunk] for key in keys}


CELLS = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab ,\"'\r\n\t=+-@1.;é%")), max_size=8),
    st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2), st.none(), st.booleans(),
)


def written(rows, keys) -> str:
    stream = io.StringIO()
    formats.write_csv(rows, formats.columns(*keys), stream)
    return stream.getvalue()


@pytest.mark.parametrize("crlf", [False, True])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_column_path_writes_what_writerow_writes(crlf, data):
    csvcells.set_crlf(crlf)
    try:
        keys = data.draw(st.lists(st.sampled_from("abcde"), min_size=2, max_size=5, unique=True))
        # A column of one kind (the quick paths) or of mixed kinds.
        kinds = {key: data.draw(st.one_of(st.just(CELLS), st.sampled_from([st.text(max_size=6), st.integers(),
                                                                            st.floats(), st.decimals(places=2)])))
                 for key in keys}
        rows = data.draw(st.lists(st.fixed_dictionaries({key: kinds[key] for key in keys}), max_size=12))
        columns = ColumnRows(rows, size=data.draw(st.integers(1, 5)))
        assert written(columns, keys) == written(list(rows), keys)
        assert columns.asked == [keys]  # the column path was taken
    finally:
        csvcells.set_crlf(False)


def test_a_single_column_takes_the_row_path():
    """csv quotes the lone empty cell of a one-column row (""), which the column path does not do."""
    rows = ColumnRows([{"a": ""}, {"a": "x"}], size=2)
    assert written(rows, ["a"]) == 'a\n""\nx\n' and rows.asked == []


def test_known_cells():
    rows = ColumnRows([{"n": 1, "f": 0.5, "d": Decimal("2.50"), "t": 'say "hi", then\ngo', "z": None},
                       {"n": -3, "f": float("nan"), "d": Decimal("-0.01"), "t": "=1+1", "z": True}], size=1)
    assert written(rows, ["n", "f", "d", "t", "z"]) == (
        'n,f,d,t,z\n1,0.5,2.50,"say ""hi"", then\ngo",\n-3,nan,-0.01,\'=1+1,true\n')
