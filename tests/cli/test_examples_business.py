"""The cron examples for running the business: the morning agenda and the target check, run as cron would."""

import csv
import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def environment(home: Path, db_name: str = "demo.db") -> dict:
    return {**os.environ, "CRM_DB": str(home / db_name), "HOME": str(home),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def run(args, env, **kwargs):
    return subprocess.run(args, env=env, capture_output=True, text=True, **kwargs)


@pytest.fixture
def demo_env(tmp_path):
    """A fresh demo business (its follow-ups and targets are relative to today)."""
    env = environment(tmp_path)
    subprocess.run(["crm", "demo", "--customers", "120", "--seed", "3"], env=env, check=True, capture_output=True)
    return env


FIXED_TODAY = date(2024, 6, 15)


@pytest.fixture
def fixed_demo_env(tmp_path):
    """A demo business made as of a fixed day, and AS_OF set to it: the target check's verdict is reproducible.

    (The customers-lost column refits the churn model at each period end; on these dates every
    fit converges quickly.)
    """
    from crmcli import db, demo

    env = {**environment(tmp_path), "AS_OF": FIXED_TODAY.isoformat()}
    conn = db.connect(Path(env["CRM_DB"]))
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=3, today=FIXED_TODAY)
    conn.close()
    return env


def csv_rows(env, *args):
    result = run(["crm", *args, "--format", "csv"], env)
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_morning_agenda(demo_env):
    result = run(["bash", str(EXAMPLES / "morning-agenda.sh")], demo_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"Agenda for {date.today().isoformat()}\n")
    for title in ("Follow-ups due", "Open complaints", "Best customers gone quiet"):
        assert title in result.stdout
    assert "\x1b[" not in result.stdout  # no colour in a mail


def test_morning_agenda_for_one_staff_member(demo_env):
    due = csv_rows(demo_env, "followup", "list", "--due", "today")
    staff = due[0]["by"]
    result = run(["bash", str(EXAMPLES / "morning-agenda.sh"), staff.lower()], demo_env)
    assert result.returncode == 0, result.stderr
    assert f"({staff.lower()})" in result.stdout.splitlines()[0]
    assert f"Follow-ups due for {staff.lower()}" in result.stdout
    section = result.stdout.split("Open complaints")[0].split("Best customers gone quiet")[0]
    mine = {r["customer_name"] for r in due if r["by"].lower() == staff.lower()}
    others = {r["customer_name"] for r in due if r["by"].lower() != staff.lower()} - mine
    assert mine and all(name in section for name in mine)
    assert not [name for name in others if name in section]


def test_morning_agenda_is_silent_on_a_day_with_nothing_to_do(tmp_path):
    env = environment(tmp_path, "empty.db")
    assert run(["crm", "init", "--quiet"], env).returncode == 0
    result = run(["bash", str(EXAMPLES / "morning-agenda.sh")], env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_morning_agenda_fails_loudly_on_a_mistyped_database(tmp_path):
    env = environment(tmp_path, "typo/empty.db")
    result = run(["bash", str(EXAMPLES / "morning-agenda.sh")], env)
    assert result.returncode == 3 and result.stdout == ""
    assert f"no database at {tmp_path / 'typo' / 'empty.db'}" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_morning_agenda_fails_loudly(tmp_path):
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database")
    result = run(["bash", str(EXAMPLES / "morning-agenda.sh")], {**environment(tmp_path), "CRM_DB": str(not_a_db)})
    assert result.returncode == 3
    assert "not a crmcli database" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("as_of, judged, code", [("2024-06-15", "2024-05", 0), ("2024-05-01", "2024-04", 4)])
def test_check_targets_on_the_demo_targets(fixed_demo_env, as_of, judged, code):
    """The demo's own monthly targets: the script's verdict is `crm target list`'s for the last complete month."""
    env = {**fixed_demo_env, "AS_OF": as_of}
    monthly = [r for r in csv_rows(env, "target", "list", "--as-of", as_of) if r["per"] == "month"]
    assert len(monthly) == 4 and {r["last_period"] for r in monthly} == {judged}
    missed = [r["metric"] for r in monthly if r["met"] == "false"]
    assert bool(missed) == (code == 4)  # May 2024 met them all; April 2024 did not
    result = run(["bash", str(EXAMPLES / "check-targets.sh")], env)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stderr == ""
    if code == 0:
        assert result.stdout == ""
        return
    assert result.stdout.startswith(f"Targets missed (checked {as_of}, per month)\n")
    for row in monthly:
        assert (f"target missed in {judged}: {row['metric']} " in result.stdout) == (row["metric"] in missed)


def set_revenue_target_only(env, amount):
    from crmcli import db
    from crmcli.reports import targets

    conn = db.connect(Path(env["CRM_DB"]))
    with db.transaction(conn):
        conn.execute("DELETE FROM targets")
        targets.set_target(conn, "revenue", amount, per="month")
    conn.close()


def test_check_targets_silent_when_met_and_mails_when_missed(fixed_demo_env):
    env = fixed_demo_env
    set_revenue_target_only(env, "0.01")
    met = run(["bash", str(EXAMPLES / "check-targets.sh")], env)
    assert (met.returncode, met.stdout, met.stderr) == (0, "", "")

    set_revenue_target_only(env, "1000000")
    missed = run(["bash", str(EXAMPLES / "check-targets.sh")], env)
    assert missed.returncode == 4 and missed.stderr == ""
    lines = missed.stdout.splitlines()
    assert lines[0] == "Targets missed (checked 2024-06-15, per month)"
    assert "≥ 1000000.00" in missed.stdout and "2024-04" in missed.stdout and "2024-06*" in missed.stdout
    assert lines[-1].startswith("crm: target missed in 2024-05: revenue ")
    assert lines[-1].endswith(", target at least 1000000.00")


def test_check_targets_per_quarter(fixed_demo_env):
    """The demo's quarterly revenue target, judged on Q1 2024 from 2024-04-01."""
    env = {**fixed_demo_env, "AS_OF": "2024-04-01"}
    quarter = next(r for r in csv_rows(env, "target", "list") if r["per"] == "quarter")
    summary = csv_rows(env, "report", "summary", "--period", "quarter", "--periods", "3", "--as-of", "2024-04-01")
    q1 = next(r for r in summary if r["metric"] == "revenue" and r["period"] == "2024-Q1")
    assert q1["complete"] == "true" and q1["target"] == quarter["target"]
    result = run(["bash", str(EXAMPLES / "check-targets.sh"), "quarter"], env)
    assert result.returncode == (4 if float(q1["value"]) < float(q1["target"]) else 0), result.stdout
    assert ("target missed in 2024-Q1: revenue" in result.stdout) == (result.returncode == 4)


def test_check_targets_fails_loudly(tmp_path):
    result = run(["bash", str(EXAMPLES / "check-targets.sh"), "fortnight"], environment(tmp_path, "new.db"))
    assert result.returncode == 2 and "fortnight" in result.stderr and result.stdout == ""
