"""`crm customer list | crm customer import - --ignore-extra` and the same for interactions and feedback:
crm's own listings import back, through real pipes, as README's recipe says."""

import csv
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A demo database (its phones start with + and 0, tags, since, companies) and a PATH that finds `crm`."""
    home = tmp_path_factory.mktemp("pipeline")
    env = {**os.environ, "CRM_DB": str(home / "shop.db"), "HOME": str(home),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    subprocess.run(["crm", "demo", "--customers", "60", "--seed", "5"], env=env, check=True, capture_output=True)
    return env, home


def sh(env, script):
    return subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)


def listing(env, db, what):
    result = subprocess.run(["crm", "--db", str(db), what, "list", "--format", "csv", "--limit", "0"], env=env,
                            capture_output=True, text=True, check=True)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def without(rows, *columns):
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def test_the_three_listings_pipe_into_an_empty_database_and_give_the_same_listings(shop, tmp_path):
    env, home = shop
    copy = tmp_path / "copy.db"
    for what in ("customer", "interaction", "feedback"):
        # No --format: a listing into a pipe is CSV.
        result = sh(env, f"crm {what} list --limit 0 | crm --db '{copy}' {what} import - --ignore-extra")
        assert result.returncode == 0, result.stderr
        assert "note: left out" in result.stderr and ", 0 rejected" in result.stderr
    source = home / "shop.db"
    assert listing(env, copy, "customer") == listing(env, source, "customer")  # ids, tags, phones, totals
    # Interaction and feedback ids are the database's own: the rest is the same, in the same order.
    assert without(listing(env, copy, "interaction"), "id") == without(listing(env, source, "interaction"), "id")
    assert without(listing(env, copy, "feedback"), "id") == without(listing(env, source, "feedback"), "id")


def test_customers_piped_again_or_into_their_own_database_are_all_skipped(shop, tmp_path):
    env, home = shop
    copy = tmp_path / "copy.db"
    first = sh(env, f"crm customer list | crm --db '{copy}' customer import - --ignore-extra")
    assert first.returncode == 0, first.stderr
    for target in (copy, home / "shop.db"):
        again = sh(env, f"crm customer list | crm --db '{target}' customer import - --ignore-extra")
        assert again.returncode == 0, again.stderr
        assert "60 rows read, 0 added, 0 updated, 60 skipped (already there), 0 rejected" in again.stderr


def test_customers_whose_ids_are_taken_are_refused_by_id_and_map_id_adds_them_as_new(shop, tmp_path):
    env, _ = shop
    other = tmp_path / "other.db"
    subprocess.run(["crm", "--db", str(other), "customer", "add", "Somebody Else"], env=env, check=True,
                   capture_output=True)
    refused = sh(env, f"crm customer list | crm --db '{other}' customer import - --ignore-extra")
    assert refused.returncode == 1
    assert "line 2, column id: 1 is already customer 'Somebody Else'" in refused.stderr
    added = sh(env, f"crm customer list | crm --db '{other}' customer import - --ignore-extra --map id=")
    assert added.returncode == 0, added.stderr
    assert "60 added" in added.stderr
    assert sqlite3.connect(other).execute("SELECT count(*) FROM customers").fetchone()[0] == 61


def test_without_ignore_extra_the_listing_is_refused_naming_the_columns(shop, tmp_path):
    env, _ = shop
    result = sh(env, f"crm customer list | crm --db '{tmp_path / 'x.db'}' customer import -")
    assert result.returncode == 1
    assert "unknown column 'purchases', 'revenue', 'last_purchase', 'open_complaints', 'purchase_records'" \
        in result.stderr
    assert "--ignore-extra leaves unknown ones out" in result.stderr


def test_the_copy_customers_recipe(shop, tmp_path):
    env, home = shop
    copy = tmp_path / "recipe.db"
    result = subprocess.run(["bash", str(EXAMPLES / "pipelines.sh"), "copy-customers", str(copy)], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    totals = ("purchases", "revenue", "last_purchase", "open_complaints", "purchase_records")  # not copied
    assert without(listing(env, copy, "customer"), *totals) == without(listing(env, home / "shop.db", "customer"),
                                                                      *totals)


def test_text_that_starts_like_a_neutralised_cell_comes_back_unchanged(tmp_path):
    """customer list's csv escapes as export does: '=x (stored, with its apostrophe) and ''y import back as
    they were, beside a formula and a plain apostrophe."""
    env = {**os.environ, "HOME": str(tmp_path),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    names = ["'=x", "''y", "'plain", "=1+1", "+63 917 555 0101"]
    for name in names:
        subprocess.run(["crm", "--db", str(tmp_path / "a.db"), "customer", "add", name], env=env, check=True,
                       capture_output=True)
    done = sh(env, f"crm --db {tmp_path / 'a.db'} customer list | crm --db {tmp_path / 'b.db'} customer import - "
                   "--ignore-extra -q")
    assert done.returncode == 0, done.stderr
    copied = sqlite3.connect(tmp_path / "b.db").execute("SELECT name FROM customers ORDER BY id").fetchall()
    assert [name for (name,) in copied] == names
