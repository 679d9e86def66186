"""The scripts in examples/ work as README says: they are run here as a user would run them."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """A demo database and an environment whose PATH finds this Python's `crm`."""
    home = tmp_path_factory.mktemp("examples")
    env = {**os.environ, "CRM_DB": str(home / "demo.db"), "HOME": str(home),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run(["crm", "demo", "--customers", "120", "--seed", "3"], env=env, check=True, capture_output=True)
    return env, home


def run(args, env, **kwargs):
    return subprocess.run(args, env=env, capture_output=True, text=True, **kwargs)


def test_nightly_reports_write_dated_csv_files(demo_env):
    env, home = demo_env
    out = home / "reports"
    result = run(["bash", str(EXAMPLES / "nightly-reports.sh"), str(out)], {**env, "AS_OF": "2026-01-31"})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")  # cron mails nothing
    names = sorted(p.name for p in out.iterdir())
    assert names == ["best-2026-01-31.csv", "churn-2026-01-31.csv", "open-complaints-2026-01-31.csv",
                     "segments-2026-01-31.csv"]
    best = list(csv.DictReader(io.StringIO((out / "best-2026-01-31.csv").read_text(encoding="utf-8"))))
    assert len(best) > 20  # --limit 0: every buying customer, not the default 20
    assert all(row["last_purchase"] <= "2026-01-31" for row in best)  # --as-of honoured
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_nightly_reports_fail_loudly(demo_env, tmp_path):
    env, _ = demo_env
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    result = run(["bash", str(EXAMPLES / "nightly-reports.sh"), str(blocker)], env)
    assert result.returncode != 0
    assert result.stderr.strip()
    broken = run(["bash", str(EXAMPLES / "nightly-reports.sh"), str(tmp_path / "r")],
                 {**env, "CRM_DB": str(blocker)})  # not a database
    assert broken.returncode == 3
    assert "not a crmcli database" in broken.stderr
    typo = tmp_path / "shop" / "crn.db"
    mistyped = run(["bash", str(EXAMPLES / "nightly-reports.sh"), str(tmp_path / "r2")], {**env, "CRM_DB": str(typo)})
    assert mistyped.returncode == 3 and f"no database at {typo}" in mistyped.stderr
    assert not typo.parent.exists() and list((tmp_path / "r2").iterdir()) == []


def test_pipeline_top_ids(demo_env):
    env, _ = demo_env
    result = run(["bash", str(EXAMPLES / "pipelines.sh"), "top-ids"], env)
    assert result.returncode == 0, result.stderr
    ids = [int(line) for line in result.stdout.split()]
    assert len(ids) == 5 and ids == sorted(ids)


def test_pipeline_at_risk_emails(demo_env):
    env, _ = demo_env
    result = run(["bash", str(EXAMPLES / "pipelines.sh"), "at-risk-emails"], env)
    assert result.returncode == 0, result.stderr
    emails = result.stdout.split()
    assert emails and all("@" in e for e in emails)


def test_pipeline_tag_jsonl(demo_env):
    env, _ = demo_env
    result = run(["bash", str(EXAMPLES / "pipelines.sh"), "tag-jsonl", "newsletter"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.split("\t")[0].isdigit() for line in lines)


def test_pipeline_revenue_total_matches_the_database(demo_env):
    env, _ = demo_env
    result = run(["bash", str(EXAMPLES / "pipelines.sh"), "revenue-total"], env)
    assert result.returncode == 0, result.stderr
    import sqlite3

    conn = sqlite3.connect(env["CRM_DB"])
    cents = conn.execute("SELECT sum(CASE type WHEN 'purchase' THEN amount_cents ELSE -amount_cents END) "
                         "FROM interactions WHERE type IN ('purchase', 'refund')").fetchone()[0]
    conn.close()
    assert result.stdout.strip() == f"{cents // 100}.{cents % 100:02d}"
