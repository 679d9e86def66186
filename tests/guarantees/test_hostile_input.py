"""Hostile and broken input (issue #5): each refused with a message naming the thing and the value,
a documented exit code (README, "Exit codes"), and the database left exactly as it was.

* database files: not SQLite, cut in half, pages overwritten with garbage, read-only file or
  folder (for real: as root the command runs without the capabilities that let root write
  anyway), from a newer crmcli, a full disk (SQLite's max_page_count, and a real write failure
  through RLIMIT_FSIZE), locked by another program past the busy timeout;
* import files: another encoding, NUL bytes, unbalanced quotes, a 10 MB cell, a million
  columns, empty, header only, binary garbage, a zip workbook, a line of 17 MB;
* text: SQL, shell metacharacters, control characters, bidi overrides, zero-width joiners and
  emoji, stored verbatim and round-tripped through add, show, list, export and import.

test_db.py already covers a text file as the database, another program's SQLite file, a
truncated or tail-damaged file on `customer list/add`, and the lock on `customer add`; the
tests here add the other commands, the middle of the file, and the messages' wording.
"""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from helpers import assert_error, db_dump, file_digest, freeze, other_program, unchanged

from crmcli import customers, db, feedback, interactions, migrations

PYTHON = sys.executable


def make_crm_db(path: Path, rows: int = 0) -> Path:
    """A real crmcli database with customers, purchases and a complaint, closed (WAL checkpointed)."""
    conn = db.connect(path)
    with db.transaction(conn):
        for n in range(rows):
            cid = customers.add(conn, f"Customer {n}", email=f"c{n}@example.com", note="x" * 200,
                                external_id=f"C{n}")
            interactions.add(conn, cid, "purchase", at="2024-01-02", amount="12.50")
        if rows:
            feedback.add(conn, 1, "complaint", at="2024-01-03", note="late")
    conn.close()
    return path


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.fixture
def import_files(tmp_path):
    """One valid file of each kind, for commands that need a file to write from."""
    folder = tmp_path / "files"
    folder.mkdir()
    return {
        "customers": write(folder, "customers.csv", "name,email\nNew Person,new@example.com\n"),
        "interactions": write(folder, "purchases.csv", "customer_id,type,at,amount\n1,purchase,2024-02-01,5\n"),
    }


def read_commands():
    return [("customer", "list"), ("customer", "show", "1"), ("interaction", "list"), ("feedback", "list"),
            ("report", "segments"), ("export", "customers"), ("import", "list"), ("info",),
            ("customer", "list", "--search", "Customer 299")]


def write_commands(files):
    return [("customer", "add", "Bob"), ("customer", "edit", "1", "--name", "Zed"),
            ("interaction", "add", "1", "--type", "call"), ("feedback", "add", "1", "--type", "compliment"),
            ("customer", "import", files["customers"]), ("interaction", "import", files["interactions"]),
            ("customer", "delete", "1", "--yes"), ("demo", "--customers", "5", "--force")]


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- database files that are not a (whole) crmcli database -----------------------------------------------

@pytest.mark.sqlite_only("a file's own bytes; a server database of another program: tests/postgres/test_server.py")
def test_random_bytes_as_the_database_are_refused_by_every_command(crm, isolated_database, import_files):
    isolated_database.write_bytes(bytes((n * 151 + 7) % 256 for n in range(50_000)))
    before = file_digest(isolated_database)
    for command in read_commands() + write_commands(import_files):
        assert_error(crm(*command), 3, str(isolated_database), "not a crmcli database")
    assert file_digest(isolated_database) == before
    assert listing(isolated_database.parent) == ["crm.db", "files"]


def _damaged(data: bytes, how: str) -> bytes:
    page = 4096
    garbage = lambda size: bytes((n * 37 + 11) % 256 for n in range(size))  # noqa: E731
    if how == "cut_in_half":
        return data[: len(data) // 2]
    # Pages in the middle overwritten; the first pages (header, schema) and the end are intact.
    start, end = len(data) // 4 // page * page, len(data) * 3 // 4 // page * page
    return data[:start] + garbage(end - start) + data[end:]


@pytest.mark.sqlite_only("a damaged file; a server keeps its own files whole (WAL, checksums)")
@pytest.mark.parametrize("how", ["cut_in_half", "garbage_in_the_middle"])
def test_a_damaged_database_is_exit_3_for_reads_and_writes_and_left_as_it_is(crm, isolated_database, how,
                                                                             import_files):
    make_crm_db(isolated_database, rows=300)
    data = isolated_database.read_bytes()
    assert len(data) > 40 * 4096
    isolated_database.write_bytes(_damaged(data, how))
    before = file_digest(isolated_database)
    for command in read_commands() + write_commands(import_files):
        result = crm(*command)
        assert_error(result, 3, "damaged", str(isolated_database), "crm restore")
        assert "malformed" in result.stderr or "not a database" in result.stderr
    assert file_digest(isolated_database) == before


def test_a_database_from_a_newer_crmcli_is_refused_by_every_command(crm, isolated_database, import_files, tmp_path,
                                                                    backend):
    """test_db.py checks add, list, info and demo; here every other kind of command."""
    make_crm_db(isolated_database, rows=3)
    raw = other_program(isolated_database)
    if backend == "postgresql":
        raw.execute("UPDATE crm_schema SET version = version + 1")
    else:
        raw.execute(f"PRAGMA user_version = {migrations.latest_version() + 1}")
    raw.close()
    before = db_dump(isolated_database)
    commands = read_commands() + write_commands(import_files) + [
        ("import", "undo", "1"), ("report", "summary"), ("followup", "add", "1", "--due", "2030-01-01")]
    if backend == "sqlite":  # a server's backup is pg_dump's (tests/postgres)
        commands.append(("backup", tmp_path / "copy.db"))
    for command in commands:
        assert_error(crm(*command), 3, str(isolated_database), "newer crmcli", "upgrade")
    assert db_dump(isolated_database) == before
    assert not (tmp_path / "copy.db").exists()


# --- read-only file and folder: for real, also when the tests run as root ---------------------------------

_FILE_OVERRIDING_CAPABILITIES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def _without_root_overrides() -> None:
    """In the child, before exec: drop the capabilities that let root write to a read-only file or
    folder from the bounding set. After exec root keeps only that set, so file permissions apply
    to it as to anyone (root cannot write a 0444 file or into a 0555 folder)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _FILE_OVERRIDING_CAPABILITIES:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def crm_process(database: Path, *args, preexec=None, timeout=120) -> subprocess.CompletedProcess:
    """`crm ARGS` as a separate process on `database`, as it runs for a user."""
    env = {**os.environ, "CRM_DB": str(database), "NO_COLOR": "1"}
    return subprocess.run([PYTHON, "-m", "crmcli", *map(str, args)], env=env, capture_output=True, text=True,
                          preexec_fn=preexec, timeout=timeout)


@pytest.fixture
def as_a_user():
    """A preexec_fn under which permissions bind: none needed for a user; for root, root without its
    overrides. Skipped (with the reason) only where neither is possible."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run([PYTHON, "-c", "import os; print(os.access('/root', os.W_OK))"],
                           preexec_fn=_without_root_overrides, capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE: {probe.stderr.strip()[-200:]}")
    return _without_root_overrides


def assert_process_error(result, code, *fragments):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_read_only_database_file_can_be_read_but_not_written(tmp_path, as_a_user, import_files):
    folder = tmp_path / "shop"
    folder.mkdir()
    database = make_crm_db(folder / "crm.db", rows=3)
    database.chmod(0o444)
    before, dump = file_digest(database), db_dump(database)
    listed = crm_process(database, "customer", "list", "--format", "csv", preexec=as_a_user)
    assert listed.returncode == 0 and "Customer 2" in listed.stdout, listed.stderr
    for command in (("customer", "add", "Bob"), ("customer", "import", import_files["customers"]),
                    ("demo", "--customers", "5", "--force"), ("interaction", "add", "1", "--type", "call")):
        result = crm_process(database, *command, preexec=as_a_user)
        assert_process_error(result, 3, f"cannot write to the database {database}", "read-only",
                             "chmod u+w", "Nothing was changed")
        assert "damaged" not in result.stderr
    assert file_digest(database) == before and db_dump(database) == dump


def test_a_read_only_folder_is_exit_3_with_the_folder_named(tmp_path, as_a_user):
    folder = tmp_path / "shop"
    folder.mkdir()
    database = make_crm_db(folder / "crm.db", rows=3)
    before = file_digest(database)
    folder.chmod(0o555)
    try:
        for command in (("customer", "list"), ("customer", "add", "Bob")):
            result = crm_process(database, *command, preexec=as_a_user)
            # SQLite must create crm.db-wal and crm.db-shm beside the file even to read it.
            assert_process_error(result, 3, str(database), f"its folder {folder} is read-only", "crm.db-wal")
            assert "damaged" not in result.stderr
        new = crm_process(folder / "new.db", "customer", "add", "Bob", preexec=as_a_user)
        assert_process_error(new, 3, f"cannot create database {folder / 'new.db'}", "Permission denied")
        assert listing(folder) == ["crm.db"]
    finally:
        folder.chmod(0o755)
    assert file_digest(database) == before


def test_the_permission_checks_above_do_bind(tmp_path, as_a_user):
    """The control: without the read-only bits the same process writes; with them, even root cannot."""
    database = make_crm_db(tmp_path / "crm.db", rows=1)
    assert crm_process(database, "customer", "add", "Bob", preexec=as_a_user).returncode == 0
    database.chmod(0o444)
    assert crm_process(database, "customer", "add", "Carl", preexec=as_a_user).returncode == 3


# --- a full disk -----------------------------------------------------------------------------------------

@pytest.fixture
def disk_full_after(monkeypatch):
    """Every connection crm opens may grow the file by only `pages` pages: SQLite then fails with
    SQLITE_FULL exactly as on a full disk."""
    real_connect = db.connect

    def install(pages: int):
        def connect(path, **options):
            conn = real_connect(path, **options)
            size = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {size + pages}")
            return conn

        monkeypatch.setattr(db, "connect", connect)

    return install


def big_customers_file(folder: Path, rows: int = 3000) -> Path:
    return write(folder, "many.csv", "name,email,note\n" + "".join(
        f"Person {n},p{n}@example.com,{'n' * 300}\n" for n in range(rows)))


@pytest.mark.sqlite_only("a full disk under the file; a server's disk is the server's (DiskFull: exit 3)")
def test_a_full_disk_during_import_is_exit_3_in_plain_words_and_changes_nothing(crm, isolated_database, tmp_path,
                                                                                 disk_full_after):
    make_crm_db(isolated_database, rows=20)
    many = big_customers_file(tmp_path)
    purchases = write(tmp_path, "p.csv", "customer_id,type,at,amount,note\n" + "".join(
        f"{n % 20 + 1},purchase,2024-03-01,1.{n % 100:02d},{'x' * 100}\n" for n in range(20_000)))
    disk_full_after(5)
    for command in (("customer", "import", many), ("interaction", "import", purchases),
                    ("demo", "--customers", "300", "--force")):
        with unchanged(isolated_database):
            result = crm(*command)
        assert_error(result, 3, f"the disk holding the database {isolated_database} is full",
                     "nothing was changed", "Free some space", "database or disk is full")


def _limit_file_size(limit: int):
    def preexec():
        # A write past the limit fails with EFBIG instead of killing the process with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_a_real_write_failure_is_exit_3_and_changes_nothing(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past a size, as a full disk does."""
    database = make_crm_db(tmp_path / "crm.db", rows=20)
    dump = db_dump(database)
    result = crm_process(database, "demo", "--customers", "2000", "--force",
                         preexec=_limit_file_size(database.stat().st_size + 64 * 1024))
    assert_process_error(result, 3, str(database), "Nothing was changed", "check the disk")
    assert "disk I/O error" in result.stderr or "database or disk is full" in result.stderr
    assert db_dump(database) == dump
    # and the database still works afterwards
    assert crm_process(database, "customer", "add", "After").returncode == 0


# --- locked past the busy timeout --------------------------------------------------------------------------

@pytest.mark.sqlite_only("SQLite's lock and busy timeout; the server's lock queue: tests/postgres/test_server.py")
def test_locked_by_another_program_is_exit_3_naming_it_and_reads_still_work(crm, isolated_database, monkeypatch,
                                                                             import_files):
    make_crm_db(isolated_database, rows=3)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(isolated_database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO customers (name, created_at, updated_at) VALUES ('uncommitted', 'x', 'x')")
    # The wait is SQLite's busy timeout: which timeout each connection was opened with is checked,
    # not the wall clock (how long 0.2 s takes on a loaded machine is no test of crmcli).
    timeouts = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        timeouts.append(kwargs.get("timeout"))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(db.sqlite3, "connect", connect)
    try:
        dump = db_dump(isolated_database)
        for command in write_commands(import_files):
            timeouts.clear()
            result = crm(*command)
            assert_error(result, 3, f"the database {isolated_database} is busy",
                         "another crm command or program is using it", "within 0.2 s", "database is locked")
            assert timeouts and set(timeouts) == {0.2}, (command, timeouts)
        # WAL: readers are not blocked by a writer, and do not see its uncommitted row
        listed = crm("customer", "list", "--format", "csv")
        assert listed.exit_code == 0 and "uncommitted" not in listed.stdout
        assert db_dump(isolated_database) == dump
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# --- import files --------------------------------------------------------------------------------------------

def _latin1(tmp_path):
    return write(tmp_path, "latin1.csv", "name,email,note\nAnn,ann@example.com,ok\nJosé,jose@example.com,hi\n"
                 .encode("latin-1"))


HOSTILE_FILES = {
    # name: (bytes, fragments the message must contain)
    "cp1252": ("name,email,note\nAnn,ann@example.com,\u201cquoted\u201d \u20ac5\n".encode("cp1252"),
               ["line 2 is not UTF-8 text", "column note", r"\x93quoted\x94 \x805", "WINDOWS-1252", "CSV UTF-8"]),
    "utf16_without_bom": ("name,email\nAnn,a@example.com\n".encode("utf-16-le"),
                          ["line 1 (the header) contains NUL characters", "UTF-16", "CSV UTF-8"]),
    "nul_in_a_cell": (b"name,email,note\nAnn,ann@example.com,a\x00b\n",
                      ["line 2, column note: must not contain NUL characters"]),
    "unbalanced_quote": (b'name,email,note\nAnn,ann@example.com,"never closed\nBob,b@example.com,x\n',
                         ["line 2: is not valid CSV", "never closed"]),
    "quote_in_the_middle": (b'name,email,note\nAnn,ann@example.com,"a"b\n', ["line 2: is not valid CSV"]),
    "cell_of_10_mb": (b"name,email,note\nAnn,ann@example.com," + b"x" * 10_000_000 + b"\n",
                      ["line 2: is not valid CSV", "longer than 131072 characters"]),
    "quoted_cell_of_10_mb": (b'name,email,note\nAnn,ann@example.com,"' + b"x" * 10_000_000 + b'"\n',
                             ["line 2: is not valid CSV", "longer than 131072 characters"]),
    "line_of_17_mb": (b"name,email,note\nAnn," + b"x" * (17 << 20), ["line 2 is longer than 16 MB"]),
    "a_million_columns": (b",".join(b"c%d" % n for n in range(1_000_000)) + b"\nAnn\n",
                          ["line 1 (the header) has 1000000 columns", "at most 10"]),
    "a_million_cells_in_a_row": (b"name,email,note\n" + b",".join([b"x"] * 1_000_000) + b"\n",
                                 ["line 2: has 1000000 cells, the header has 3"]),
    "empty": (b"", ["is empty"]),
    "blank_lines_only": (b"\n\n\n", ["line 1 (the header)", "missing column 'name'"]),
    "binary_garbage": (bytes((n * 97 + 13) % 256 for n in range(4000)), ["line 1 is not UTF-8 text"]),
    "xlsx_workbook": (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), ["is a zip file", "Excel", "CSV UTF-8"]),
    "unknown_and_repeated_columns": (b"name,name,colour,size,email\nAnn,Ann,red,L,a@example.com\n",
                                     ["unknown column 'colour', 'size'", "repeated column 'name'"]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_a_hostile_customers_file_is_refused_naming_file_and_line(crm, conn, isolated_database, tmp_path, name):
    data, fragments = HOSTILE_FILES[name]
    with db.transaction(conn):
        customers.add(conn, "Already There")
    path = write(tmp_path, f"{name}.csv", data)
    with unchanged(isolated_database):
        result = crm("customer", "import", path)
    assert_error(result, 1, *fragments)
    assert str(path) in result.stderr or f"'{path}'" in result.stderr
    assert len(result.stderr) < 3000  # a one-screen message, even for a million columns


def test_a_latin1_file_names_file_line_column_and_the_fix(crm, conn, isolated_database, tmp_path):
    path = _latin1(tmp_path)
    with unchanged(isolated_database):
        result = crm("customer", "import", path)
    assert_error(result, 1, f"file: {path}: line 3 is not UTF-8 text, column name ('Jos\\xe9')",
                 f"iconv -f WINDOWS-1252 -t UTF-8 {path}")


def test_a_latin1_byte_deep_in_a_big_interactions_file_is_found_by_the_worker_processes(crm, conn, tmp_path,
                                                                                        isolated_database):
    """Interaction files over 1 MB are checked by worker processes: the same message from there."""
    with db.transaction(conn):
        customers.add(conn, "Ann", external_id="A")
    good = b"A,call,2024-01-02,fine\n" * 60_000
    path = write(tmp_path, "big.csv", b"customer_external_id,type,at,note\n" + good
                 + "A,call,2024-01-02,Caf\u00e9\n".encode("latin-1") + good)
    assert path.stat().st_size > 2 << 20
    with unchanged(isolated_database):
        result = crm("interaction", "import", path)
    assert_error(result, 1, "line 60002 is not UTF-8 text, column note ('Caf\\xe9')", "WINDOWS-1252")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_file_with_a_utf16_or_utf32_byte_order_mark_is_read_correctly(crm, conn, tmp_path, encoding):
    text = "name,email,note\r\nNguyễn Văn An,an@example.com,\"phở, 👍🏽\nnew line\"\r\nJosé,jose@example.com,ü\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python's utf-16-be writes no mark; Excel's does
    path = write(tmp_path, "unicode.csv", data)
    result = crm("customer", "import", path)
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in customers.list_customers(conn)}
    assert set(rows) == {"Nguyễn Văn An", "José"}
    assert customers.get(conn, rows["Nguyễn Văn An"]["id"])["note"] == "phở, 👍🏽\nnew line"


def test_a_utf16_file_that_goes_bad_is_refused_with_its_line(crm, conn, isolated_database, tmp_path):
    path = write(tmp_path, "u16.csv", "name\nAnn\nBob\n".encode("utf-16") + b"\x00\xd8A\x00")
    with unchanged(isolated_database):
        result = crm("customer", "import", path)
    assert_error(result, 1, str(path), "UTF-16 byte-order mark", "line 4 is not UTF-16 text")


def test_a_header_only_file_imports_nothing_and_says_so(crm, conn, tmp_path):
    result = crm("customer", "import", write(tmp_path, "h.csv", "name,email\n"))
    assert result.exit_code == 0 and "0 rows read, 0 added" in result.stderr
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


@pytest.mark.parametrize("kind, header, type_", [("interaction", "customer_id,type,at,amount,note", "call"),
                                                 ("feedback", "customer_id,type,at,rating,note", "compliment")])
def test_hostile_interaction_and_feedback_files_are_refused_too(crm, conn, isolated_database, tmp_path, kind, header,
                                                                type_):
    with db.transaction(conn):
        customers.add(conn, "Ann")
    for data, fragment in (
            ((header + f"\n1,{type_},2024-01-01,,caf\xe9\n").encode("latin-1"),
             "line 2 is not UTF-8 text, column note ('caf\\xe9')"),
            ((header + f"\n1,{type_},2024-01-01,,\"open\n").encode(), "never closed"),
            ((header + f"\n1,{type_},2024-01-01,,a\x00b\n").encode(), "line 2, column note: must not contain NUL"),
            (",".join(["x"] * 2000).encode() + b"\n", "line 1 (the header) has 2000 columns"),
            (b"\x1f\x8b\x08\x00" + bytes(100), "is compressed (gzip)")):
        path = write(tmp_path, f"{kind}.csv", data)
        with unchanged(isolated_database):
            assert_error(crm(kind, "import", path), 1, fragment)


def _peak_memory_of_child(args, **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a child process; return it, its wall time and its peak RSS in MB (ru_maxrss of a fresh
    grandchild, so earlier children of the test process do not count)."""
    probe = ("import resource, subprocess, sys, time; started = time.monotonic(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(r.returncode, time.monotonic() - started, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
             "sys.stderr.write(r.stderr)")
    result = subprocess.run([PYTHON, "-c", probe, *args], capture_output=True, text=True, **kwargs)
    code, seconds, peak = result.stdout.split()
    result.returncode = int(code)
    return result, float(seconds), float(peak)


def test_a_million_columns_is_refused_fast_in_little_memory(tmp_path):
    database = make_crm_db(tmp_path / "crm.db", rows=1)
    header = write(tmp_path, "wide.csv", b",".join(b"column%d" % n for n in range(1_000_000)) + b"\nAnn\n")
    row = write(tmp_path, "wide-row.csv", b"name,note\n" + b",".join([b"x"] * 1_000_000) + b"\n")
    env = {**os.environ, "CRM_DB": str(database)}
    for path, fragment in ((header, "has 1000000 columns"), (row, "has 1000000 cells")):
        result, seconds, peak_mb = _peak_memory_of_child([PYTHON, "-m", "crmcli", "customer", "import", str(path)],
                                                         env=env)
        assert result.returncode == 1 and fragment in result.stderr, result.stderr
        # Measured: about 55 MB each (a Python process alone is about 35 MB). The time, about 0.5 s, is
        # measured by tests/benchmarks/bench_refusals.py: a wall-clock limit is no unit test.
        assert peak_mb < 200, (seconds, peak_mb)


def test_the_rejects_file_of_hostile_rows_imports_back(crm, conn, tmp_path):
    """--skip-invalid: bad rows go to the rejects file as they were, formula cells neutralised, and
    that file (fixed) imports again."""
    path = write(tmp_path, "c.csv", "name,email,note\n=HYPERLINK(\"http://evil\"),bad-email,-1+2\n"
                 "Good,good@example.com,fine\n")
    rejects = tmp_path / "rejects.csv"
    result = crm("customer", "import", path, "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(rejects.read_text(encoding="utf-8"))))
    assert rows[1][:3] == ["'=HYPERLINK(\"http://evil\")", "bad-email", "'-1+2"]
    fixed = rejects.read_text(encoding="utf-8").replace("bad-email", "ok@example.com")
    again = crm("customer", "import", write(tmp_path, "fixed.csv", fixed))
    assert again.exit_code == 0, again.stderr
    added = customers.get(conn, customers.resolve(conn, "ok@example.com"))
    assert (added["name"], added["note"]) == ('=HYPERLINK("http://evil")', "-1+2")


# --- hostile text: stored verbatim, shown harmlessly -------------------------------------------------------

HOSTILE_TEXTS = [
    "'); DROP TABLE customers; --",
    "Robert'); DELETE FROM interactions WHERE ('1'='1",
    "$(touch {canary})",
    "`touch {canary}`",
    "a;b|c&d>e<f",
    "\x1b[2J\x1b[H cleared",
    "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07",
    "\x1b[31mred\x1b[0m",
    "carriage\rreturn and back\bspace and bell\x07",
    "\x9b31m one-byte CSI",
    "abc\u202edcba (right-to-left override)",
    "family 👨\u200d👩\u200d👧 and 🧑🏽\u200d💻",
    "skin 👍🏿 flag 🇻🇳 🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
    "zero\u200bwidth\u2060joiner\ufeff",
    "line\u2028separator",
    "Nguye\u0302\u0303n (decomposed)",
]


def stored(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip())


@pytest.fixture
def canary(tmp_path):
    return tmp_path / "pwned"


@pytest.mark.parametrize("n", range(len(HOSTILE_TEXTS)))
def test_hostile_text_is_stored_verbatim_and_round_trips(crm, conn, tmp_path, canary, n, monkeypatch):
    monkeypatch.setattr("crmcli.cli.views.customer_scores", lambda conn, customer_id: None)
    freeze(monkeypatch)
    text = HOSTILE_TEXTS[n].format(canary=canary)
    name, note = f"N {text}", f"{text} note"
    assert crm("customer", "add", "--note", note, "--tag", "t", "--", name).stdout == "1\n"
    assert crm("interaction", "add", "1", "--type", "call", "--by", text, "--note", note).exit_code == 0
    assert crm("feedback", "add", "1", "--type", "complaint", "--category", text, "--note", note).exit_code == 0
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 1  # the table is still there
    assert (customers.get(conn, 1)["name"], customers.get(conn, 1)["note"]) == (stored(name), stored(note))
    # JSON gives it back exactly
    assert json.loads(crm("customer", "list", "--format", "json").stdout)[0]["name"] == stored(name)
    record = json.loads(crm("customer", "show", "1", "--format", "json").stdout)
    assert (record["customer"]["name"], record["customer"]["note"]) == (stored(name), stored(note))
    # export -> import into an empty database -> export: the same bytes
    folder = tmp_path / "export"
    assert crm("export", "all", "--output", folder).exit_code == 0
    fresh = tmp_path / "fresh.db"
    for kind, file in (("customer", "customers.csv"), ("interaction", "interactions.csv"),
                       ("feedback", "feedback.csv")):
        result = crm("--db", fresh, kind, "import", folder / file)
        assert result.exit_code == 0, result.stderr
    again = tmp_path / "again"
    assert crm("--db", fresh, "export", "all", "--output", again).exit_code == 0
    for file in ("customers.csv", "interactions.csv", "feedback.csv"):
        assert (again / file).read_bytes() == (folder / file).read_bytes(), file
    # tables show it without executing anything
    for command in (("customer", "list"), ("customer", "show", "1"), ("interaction", "list"), ("feedback", "list")):
        result = crm(*command, "--format", "table")
        assert result.exit_code == 0, result.stderr
        shown = result.stdout + result.stderr
        for raw in ("\x1b", "\x07", "\x08", "\r", "\x9b", "\u202e", "\u2028", "\u200b", "\ufeff"):
            assert raw not in shown, (command, raw)
        assert "\U000E0041" not in shown
    assert not canary.exists()


def test_what_tables_show_for_hostile_text(crm, conn, monkeypatch):
    """Escaped where a terminal would act, verbatim where it would only draw."""
    monkeypatch.setattr("crmcli.cli.views.customer_scores", lambda conn, customer_id: None)
    with db.transaction(conn):
        customers.add(conn, "\x1b[2J\x1b]8;;http://evil\x07x\u202eevil 👨\u200d👩\u200d👧 🇻🇳 👍🏿",
                      note="a\tb\rc\x9b")
    out = crm("customer", "show", "1", "--format", "table").stdout
    assert "\\x1b[2J\\x1b]8;;http://evil\\x07x\\u202eevil 👨\u200d👩\u200d👧 🇻🇳 👍🏿" in out
    assert "a\\x09b\\x0dc\\x9b" in out


def test_error_messages_do_not_send_stored_escape_sequences_to_the_terminal(crm, conn):
    with db.transaction(conn):
        customers.add(conn, "Eve \x1b[2J one", email="e1@example.com")
        customers.add(conn, "Eve \x1b[2J two", email="e2@example.com")
    result = crm("customer", "show", "Eve")
    assert_error(result, 1, "matches 2 customers", "Eve \\x1b[2J one")
    assert "\x1b" not in result.stderr


def test_nul_is_refused_in_typed_text(crm, isolated_database, conn):
    # argv cannot carry NUL; the core refuses it for the Python API and for imports
    from crmcli.errors import InvalidInput

    with pytest.raises(InvalidInput, match="must not contain NUL"), db.transaction(conn):
        customers.add(conn, "a\x00b")
