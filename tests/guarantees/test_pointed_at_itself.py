"""crm pointed at itself, and output that cannot get out (issue 11).

* No file-writing option (--output of every command, export, --rejects of every import, backup)
  writes onto the database or its -wal, -shm or -journal file, however the path is spelled.
* A command whose stdout cannot take its output (a full disk, a closed descriptor, a reader gone)
  fails cleanly, and a write command then saves nothing: it prints inside its transaction and
  commits last. Every command is tried with stdout on /dev/full, as a real process.
* SIGTERM of a long command rolls it back and exits 143, leaving no process and no temporary file.

The command lists come from the Typer app, so a new command is tried too, or the coverage test fails.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _processes import wal_size
from helpers import (
    assert_error,
    command_tree,
    copy_database,
    database_beside,
    db_dump,
    freeze,
    other_program,
    unchanged,
)

from crmcli import customers, db, feedback, followups, interactions

CRM = [sys.executable, "-m", "crmcli"]


def has_option(command, option: str) -> bool:
    return any(option in param.opts for param in command.params)


@pytest.fixture
def shop(conn):
    """Two customers with purchases, a complaint and a follow-up: enough for every command to print."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com", tags=["vip"])
        bob = customers.add(conn, "Bob Day", email="bob@example.com")
        for customer, day in ((ann, "2024-05-01"), (ann, "2024-05-20"), (bob, "2024-05-02")):
            interactions.add(conn, customer, "purchase", at=day, amount="10.00", by="Sam")
        feedback.add(conn, ann, "complaint", rating=2, note="late", at="2024-05-03")
        followups.add(conn, bob, "2030-01-01", note="call")
    return {"ann": ann, "bob": bob}


# Arguments that make each command succeed on the shop above (the CSV files are written by the test).
ARGUMENTS: dict[tuple[str, ...], list[str]] = {
    ("agenda",): [],
    ("backup",): ["{tmp}/another-backup.db"],
    ("customer", "add"): ["Cy New", "--email", "cy@example.com"],
    ("customer", "delete"): ["2", "--yes"],
    ("customer", "duplicates"): [],
    ("customer", "edit"): ["1", "--note", "edited"],
    ("customer", "forget"): ["2", "--yes"],
    ("customer", "history"): ["1"],
    ("customer", "import"): ["{tmp}/customers.csv"],
    ("customer", "list"): [],
    ("customer", "merge"): ["1", "2", "--yes"],
    ("customer", "show"): ["1"],
    ("demo",): ["--customers", "30", "--force"],
    ("export",): ["customers"],
    ("feedback", "add"): ["1", "--type", "compliment", "--note", "kind"],
    ("feedback", "import"): ["{tmp}/feedback.csv"],
    ("feedback", "list"): [],
    ("feedback", "resolve"): ["1"],
    ("followup", "add"): ["1", "--due", "2030-02-01"],
    ("followup", "done"): ["1"],
    ("followup", "list"): [],
    ("import", "list"): [],
    ("import", "undo"): ["1"],
    ("info",): [],
    ("init",): [],
    ("interaction", "add"): ["1", "--type", "call", "--at", "2024-06-01"],
    ("interaction", "import"): ["{tmp}/interactions.csv"],
    ("interaction", "list"): [],
    ("report", "best"): ["--as-of", "2024-06-15"],
    ("report", "churn"): ["--as-of", "2024-06-15"],
    ("report", "model"): ["--as-of", "2024-06-15"],
    ("report", "segments"): ["--as-of", "2024-06-15"],
    ("report", "staff"): [],
    ("report", "summary"): ["--as-of", "2024-06-15"],
    ("restore",): ["{tmp}/backup.db", "--yes"],
    ("target", "list"): [],
    ("target", "remove"): ["revenue"],
    ("target", "set"): ["revenue", "100"],
}

CSV_FILES = {
    "customers.csv": "name,email\nDee Ray,dee@example.com\n",
    "interactions.csv": "customer_id,type,at,amount\n1,purchase,2024-06-01,5.00\n",
    "feedback.csv": "customer_id,type,at,note\n1,compliment,2024-06-01,nice\n",
}
# One line of each file with a bad row, for --skip-invalid --rejects.
BAD_ROWS = {
    ("customer", "import"): "\n",
    ("interaction", "import"): "1,teleport,2024-06-01,\n",
    ("feedback", "import"): "1,rant,2024-06-01,x\n",
}


def arguments(path: tuple[str, ...], tmp: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp)) for arg in ARGUMENTS[path]]


def write_csv_files(tmp: Path) -> None:
    for name, text in CSV_FILES.items():
        (tmp / name).write_text(text)


def test_every_command_has_arguments_here():
    """A new command must be added to ARGUMENTS, so that it is tried against the database's own files."""
    assert {path for path, _ in command_tree()} == set(ARGUMENTS)


def spellings(database: Path, tmp: Path) -> dict[str, str]:
    """The database and its companions, spelled as a careless user or a script might."""
    (tmp / "sub").mkdir(exist_ok=True)
    link = tmp / "link.csv"
    link.symlink_to(database)
    hard = tmp / "hard.csv"
    os.link(database, hard)
    return {
        "absolute": str(database),
        "relative": os.path.relpath(database),
        "dotdot": str(tmp / "sub" / ".." / database.name),
        "symlink": str(link),
        "hard link": str(hard),
        "-wal": f"{database}-wal",
        "-shm": f"{database}-shm",
        "-journal": f"{database}-journal",
    }


def writing_options() -> list[tuple[tuple[str, ...], str]]:
    found = []
    for path, command in command_tree():
        for option in ("--output", "--rejects"):
            if has_option(command, option):
                found.append((path, option))
    found.append((("backup",), "PATH"))
    return found


@pytest.mark.sqlite_only("the database's own files (and their -wal, -shm); a server has none crm could write onto")
def test_no_file_writing_option_writes_onto_the_database(crm, shop, isolated_database, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv_files(tmp_path)
    names = spellings(isolated_database, tmp_path)
    options = writing_options()
    assert len(options) >= 20  # every --output, the three --rejects and backup
    for path, option in options:
        for how, target in names.items():
            args = [*path, *arguments(path, tmp_path)]
            if option == "PATH":
                args = [*path, target, "--force"]
            elif option == "--rejects":
                args += ["--skip-invalid", "--rejects", target]
            else:
                args += [option, target]
            before = db_dump(isolated_database)
            result = crm(*args)
            assert result.exit_code == 1, (args, how, result.exit_code, result.stderr)
            assert "database" in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
            assert db_dump(isolated_database) == before, (args, how)
    # The database is still a database, and nothing took the companions' names.
    check = sqlite3.connect(isolated_database)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


@pytest.mark.sqlite_only("the database's own files (and their -wal, -shm); a server has none crm could write onto")
def test_export_all_into_the_database_folder_cannot_replace_the_database(crm, shop, conn, isolated_database,
                                                                          tmp_path):
    """`export all DIR` writes customers.csv, ... into DIR: a database named customers.csv is refused too."""
    conn.close()
    database = tmp_path / "customers.csv"
    os.replace(isolated_database, database)
    with unchanged(database):
        result = crm("--db", database, "export", "all", "--output", tmp_path)
    assert_error(result, 1, "is the database crm is using")


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(crm, shop, tmp_path):
    target = tmp_path / "reports" / "customers.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    result = crm("customer", "list", "--output", link)
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("id,name,email")


def test_folders_crm_creates_are_private_at_every_level(crm, shop, tmp_path):
    deep = tmp_path / "new" / "deeper" / "crm.db"
    assert crm("--db", deep, "init").exit_code == 0
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    out = tmp_path / "exports" / "nightly"
    assert crm("export", "all", "--output", out).exit_code == 0
    for folder in (tmp_path / "exports", out):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def run(args: list[str], database: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRM_DB": str(database), "COLUMNS": "100"}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    return subprocess.run([*CRM, *map(str, args)], env=env, timeout=120, **streams)


@pytest.mark.slow
def test_every_command_with_stdout_on_a_full_disk(shop, conn, isolated_database, tmp_path):
    """stdout on /dev/full, each command on a fresh copy of the shop: no traceback; a command that fails
    saves nothing; one that needs no stdout (edit, delete, ...) may succeed."""
    write_csv_files(tmp_path)
    conn.close()
    (tmp_path / "batch.csv").write_text("name,email\nEve Old,eve@example.com\n")
    assert run(["customer", "import", tmp_path / "batch.csv"], isolated_database).returncode == 0
    assert run(["target", "set", "revenue", "50"], isolated_database).returncode == 0
    pristine = database_beside(isolated_database, "pristine")
    copy_database(isolated_database, pristine)
    server = str(isolated_database).startswith("postgresql://")
    if not server:  # a server's backup and restore are pg_dump's and pg_restore's (tests/postgres)
        assert run(["backup", tmp_path / "backup.db"], isolated_database).returncode == 0
    failed = []
    for path, _ in command_tree():
        if server and path[0] in ("backup", "restore"):
            continue
        copy_database(pristine, isolated_database)
        before = db_dump(isolated_database)
        with open("/dev/full", "w") as full:
            result = run([*path, *arguments(path, tmp_path)], isolated_database, stdout=full)
        stderr = result.stderr.decode()
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, (path, stderr)
        if result.returncode != 0:
            failed.append(path)
            assert result.returncode == 1, (path, result.returncode, stderr)
            assert "cannot write to standard output" in stderr, (path, stderr)
            assert db_dump(isolated_database) == before, path
    # Those that print data did fail, the writes among them included.
    assert {("customer", "list"), ("report", "best"), ("customer", "add"), ("info",)} <= set(failed)


@pytest.mark.parametrize("redirect", ["full", "closed"])
@pytest.mark.parametrize("args", [
    ["customer", "add", "Zed"],
    ["interaction", "add", "1", "--type", "call", "--at", "2024-06-01"],
    ["feedback", "add", "1", "--type", "compliment"],
    ["followup", "add", "1", "--due", "2031-01-01"],
])
def test_a_write_whose_id_cannot_be_printed_saves_nothing(shop, isolated_database, args, redirect):
    before = db_dump(isolated_database)
    if redirect == "full":
        with open("/dev/full", "w") as full:
            result = run(args, isolated_database, stdout=full)
    else:
        result = run(args, isolated_database, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "cannot write to standard output" in stderr and "nothing was saved" in stderr, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert db_dump(isolated_database) == before


def test_a_listing_with_stdout_closed_fails_cleanly(shop, isolated_database):
    result = run(["customer", "list"], isolated_database, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert result.returncode == 1
    assert b"standard output: it is closed" in result.stderr and b"Traceback" not in result.stderr


def test_a_reader_that_goes_away_is_not_an_error(conn, isolated_database):
    """`crm customer list | head -1`: exit 0, nothing on stderr (a pipe whose reader closed at once)."""
    with db.transaction(conn):
        for n in range(3000):
            customers.add(conn, f"Customer {n}")
    read, write = os.pipe()
    process = subprocess.Popen([*CRM, "customer", "list"], stdout=write, stderr=subprocess.PIPE,
                               env={**os.environ, "CRM_DB": str(isolated_database)})
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        reader.readline()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_churn_follow_ups_are_not_scheduled_when_the_report_cannot_be_written(crm, shop, isolated_database):
    for target in ("/missing/folder/churn.csv", "/dev/full"):
        with unchanged(isolated_database):
            result = crm("report", "churn", "--as-of", "2024-06-15", "--follow-up", "2", "--output", target)
        assert_error(result, 1, "cannot write to")
    result = crm("report", "churn", "--as-of", "2024-06-15", "--follow-up", "2", "--format", "csv")
    assert result.exit_code == 0 and "scheduled" in result.stderr


def test_an_argument_that_is_not_utf8_is_refused_naming_it(isolated_database):
    before = db_dump(isolated_database)
    result = subprocess.run([*CRM, "customer", "add", b"Bad\xffByte"], capture_output=True,
                            env={**os.environ, "CRM_DB": str(isolated_database)}, timeout=60)
    assert result.returncode == 1
    assert b"not valid UTF-8" in result.stderr and b"Bad\\\\xffByte" in result.stderr, result.stderr
    assert b"Traceback" not in result.stderr
    assert db_dump(isolated_database) == before
    result = subprocess.run([*CRM, "customer", "add", "Ok", b"--note=\xfe"], capture_output=True,
                            env={**os.environ, "CRM_DB": str(isolated_database)}, timeout=60)
    assert result.returncode == 1 and b"--note: is not valid UTF-8" in result.stderr


@pytest.mark.parametrize("args, field", [
    (["interaction", "add", "1", "--type", "call", "--at", "0001-01-01T00:00+01:00"], "at"),
    (["interaction", "add", "1", "--type", "call", "--at", "9999-12-31T23:00-05:00"], "at"),
    (["report", "best", "--as-of", "9999-12-31"], "as-of"),
    (["report", "churn", "--as-of", "9999-12-31"], "as-of"),
    (["report", "summary", "--as-of", "0001-01-01"], "as-of"),
    (["target", "list", "--as-of", "0001-01-01"], "as-of"),
    (["report", "staff", "--since", "0001-01-01"], "since"),
    (["interaction", "list", "--until", "9999-12-31"], "until"),
])
def test_dates_at_the_ends_of_the_calendar_are_a_clear_error(crm, shop, isolated_database, args, field):
    with unchanged(isolated_database):
        result = crm(*args)
    assert_error(result, 1, f"{field}: is out of range", "1900-01-01", "9899-12-31")


def test_the_widest_accepted_dates_work(crm, shop, monkeypatch):
    freeze(monkeypatch)
    assert crm("report", "summary", "--as-of", "1900-01-01", "--period", "year", "--periods", "120").exit_code == 0
    assert crm("report", "best", "--as-of", "9899-12-31", "--horizon", "36500", "-n", "1").exit_code == 0


def test_a_wal_from_another_database_is_refused_and_both_files_left_alone(tmp_path):
    ours, other = tmp_path / "ours.db", tmp_path / "other.db"
    for path, n in ((ours, 30), (other, 60)):
        conn = db.connect(path)
        with db.transaction(conn):
            for i in range(n):
                customers.add(conn, f"{path.stem} {i}", email=f"{path.stem}{i}@example.com")
        conn.close()
    # Copy other.db's live -wal (a connection that never checkpoints, still open) beside ours.db.
    writer = sqlite3.connect(other, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    for i in range(200):
        writer.execute("UPDATE customers SET note = ? WHERE id = ?", ("x" * 400, i % 60 + 1))
    foreign = (tmp_path / "other.db-wal").read_bytes()
    writer.close()
    (tmp_path / "ours.db-wal").write_bytes(foreign)
    before = ours.read_bytes()
    result = subprocess.run([*CRM, "--db", ours, "info"], capture_output=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert b"does not agree with the write-ahead log" in result.stderr and b"Traceback" not in result.stderr
    assert ours.read_bytes() == before and (tmp_path / "ours.db-wal").read_bytes() == foreign
    (tmp_path / "ours.db-wal").unlink()
    (tmp_path / "ours.db-shm").unlink(missing_ok=True)
    result = subprocess.run([*CRM, "--db", ours, "customer", "list", "--format", "csv"], capture_output=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.count(b"\n") == 31


@pytest.mark.sqlite_only("SQLite's -wal file")
def test_the_live_wal_of_another_process_is_not_checked(isolated_database, conn):
    """While another process has the database open, its -wal is live: no check, no refusal."""
    from crmcli.db import _held_by_another_process

    shm = Path(f"{isolated_database}-shm")
    with db.transaction(conn):
        customers.add(conn, "Held")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); c.execute('select 1 from customers').fetchall();"
        "print('ready', flush=True); time.sleep(30)"), str(isolated_database)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ready\n"
        assert _held_by_another_process(shm)
    finally:
        holder.kill()
        holder.wait()
    conn.close()
    assert not _held_by_another_process(shm)


def test_a_trigger_that_refuses_a_delete_is_a_clean_error(crm, shop, isolated_database, backend):
    raw = other_program(isolated_database)  # the trigger in each engine's language
    if backend == "postgresql":
        raw.execute("CREATE FUNCTION keep_ann() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "IF OLD.name = 'Ann Lee' THEN RAISE EXCEPTION 'Ann stays'; END IF; RETURN OLD; END $$")
        raw.execute("CREATE TRIGGER keep_ann BEFORE DELETE ON customers FOR EACH ROW EXECUTE FUNCTION keep_ann()")
    else:
        raw.execute("CREATE TRIGGER keep_ann BEFORE DELETE ON customers WHEN old.name = 'Ann Lee' "
                    "BEGIN SELECT RAISE(ABORT, 'Ann stays'); END")
    raw.close()
    with unchanged(isolated_database):
        result = crm("customer", "delete", "1", "--yes")
    assert_error(result, 1, "refused the change", "Ann stays", "Nothing was changed")


def test_confirmation_prompts_show_stored_text_escaped(crm, conn, monkeypatch):
    with db.transaction(conn):
        customers.add(conn, "Evil\x1b[2J\u202eName")
    monkeypatch.setattr("crmcli.cli.common.is_interactive", lambda: True)
    result = crm("customer", "delete", "1", input="n\n")
    shown = result.stdout + result.stderr
    assert "Evil\\x1b[2J\\u202eName" in shown
    assert "\x1b" not in shown and "\u202e" not in shown


def test_segment_shares_are_left_empty_when_refunds_exceed_purchases(crm, conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        interactions.add(conn, ann, "purchase", at="2024-05-01", amount="10.00")
        interactions.add(conn, ann, "refund", at="2024-05-02", amount="30.00")
    result = crm("report", "segments", "--as-of", "2024-06-15", "--format", "json")
    import json

    rows = json.loads(result.stdout)
    assert all(row["revenue_share"] is None for row in rows)
    assert sum(row["revenue"] for row in rows) == -20.0


def test_purchases_are_purchase_days_everywhere(crm, conn):
    """README's definition: two receipts on one day are one purchase; purchase_records counts the rows."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        for at in ("2024-05-01T09:00", "2024-05-01T17:00", "2024-05-09"):
            interactions.add(conn, ann, "purchase", at=at, amount="10.00")
    import json

    listed = json.loads(crm("customer", "list", "--format", "json").stdout)[0]
    assert (listed["purchases"], listed["purchase_records"]) == (2, 3)
    shown = json.loads(crm("customer", "show", "1", "--format", "json").stdout)["stats"]
    assert (shown["purchases"], shown["purchase_records"], shown["average_purchase"]) == (2, 3, 15.0)
    best = json.loads(crm("report", "best", "--as-of", "2024-06-15", "--by", "revenue", "--format", "json").stdout)
    assert best[0]["purchases"] == 2


@pytest.mark.slow
def test_sigterm_of_a_long_command_rolls_back_and_leaves_nothing(isolated_database, tmp_path):
    """demo and export --output, terminated mid-run: exit 143, one line on stderr, the database as before,
    no temporary file, no process left."""
    env = {**os.environ, "CRM_DB": str(isolated_database)}
    assert subprocess.run([*CRM, "demo", "--customers", "3000"], env=env, capture_output=True).returncode == 0
    before = db_dump(isolated_database)
    out = tmp_path / "out"
    out.mkdir()

    def writing():
        """The sign that the demo is mid-write: its -wal has grown; a server's write-ahead log has."""
        if str(isolated_database).startswith("postgresql://"):
            at_start = wal_size(isolated_database)
            return lambda: wal_size(isolated_database) - at_start > 2**20
        wal = Path(f"{isolated_database}-wal")
        return lambda: wal.exists() and wal.stat().st_size > 2**20

    # Each command with the sign that it is mid-write; the export's: its temporary file exists.
    for args, signs in ((["demo", "--customers", "20000", "--force"], writing),
                        (["export", "interactions", "--output", out / "interactions.csv"],
                         lambda: lambda: any(out.iterdir()))):
        busy = signs()
        process = subprocess.Popen([*CRM, *map(str, args)], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                                   start_new_session=True)
        deadline = time.monotonic() + 60
        while not busy() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, f"{args} ended before it could be terminated: make it longer"
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 143, (args, process.returncode, stderr)
        assert b"terminated" in stderr and b"Traceback" not in stderr, stderr
        assert db_dump(isolated_database) == before, args
        assert not list(out.iterdir()), list(out.iterdir())
        try:
            os.killpg(process.pid, 0)
            left = True
        except ProcessLookupError:
            left = False
        assert not left, f"processes of {args} are still running"


@pytest.mark.slow
def test_a_killed_export_leaves_a_temporary_file_the_next_one_removes(isolated_database, tmp_path):
    """SIGKILL cannot be caught: the hidden `.NAME.pidPID-XXXX.tmp` stays until the next write of that file,
    which removes it (its pid is gone) and never one of a run still writing (its pid is alive)."""
    env = {**os.environ, "CRM_DB": str(isolated_database)}
    assert subprocess.run([*CRM, "demo", "--customers", "3000"], env=env, capture_output=True).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    target = out / "interactions.csv"
    alive = out / f".interactions.csv.pid{os.getpid()}-running.tmp"
    alive.write_text("a run still writing")
    process = subprocess.Popen([*CRM, "export", "interactions", "--output", target], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(out.iterdir())) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the export ended before it could be killed: make it longer"
    process.kill()
    process.wait()
    left = sorted(p.name for p in out.iterdir() if p != alive)
    assert len(left) == 1 and left[0].startswith(f".interactions.csv.pid{process.pid}-"), left
    assert subprocess.run([*CRM, "export", "interactions", "--output", target], env=env,
                          capture_output=True).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([alive.name, "interactions.csv"])
