"""A large shop's report shows a spinner on a person's terminal while the models are fitted; never in
a pipe, a file or a cron job, never under --quiet, never for a small shop."""

import io

import pytest

from crmcli import customers
from crmcli.cli import common, report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("terminal", "quiet", "size", "shown"), [
    (True, False, "large", True), (False, False, "large", False), (True, True, "large", False),
    (True, False, "small", False)])
def test_spinner_only_for_a_person_watching_a_large_shop(conn, monkeypatch, terminal, quiet, size, shown):
    customers.add(conn, "Ana")
    monkeypatch.setattr(report, "WORKING_FROM_CUSTOMERS", 1 if size == "large" else 2)
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(common, "is_quiet", lambda: quiet)
    with report._working(conn, "fitting pareto"):
        pass
    assert ("fitting pareto" in stderr.getvalue()) is shown
