"""A throwaway PostgreSQL cluster for the tests and benchmarks: initdb in a temporary folder, the server on
a Unix socket there (no TCP port), as an unprivileged user (initdb refuses root), stopped and deleted at
the end. .ci/run starts one the same way; here it is for a run with no CRM_TEST_POSTGRES."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def server_programs() -> Path | None:
    """The folder of initdb and pg_ctl (Debian's postgresql package), or None when not installed."""
    found = shutil.which("pg_config")
    if found:
        folder = Path(subprocess.run([found, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (folder / "initdb").exists():
            return folder
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster; yields the address of its `postgres` database (superuser crm, no password)."""
    programs = server_programs()
    if programs is None:
        raise RuntimeError("PostgreSQL's server programs are not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(folder, "nobody")
    data = folder / "data"
    try:
        subprocess.run([*as_user, str(programs / "initdb"), "-D", str(data), "-U", "crm", "-A", "trust", "-E", "UTF8",
                        "--no-locale"], check=True, capture_output=True)
        subprocess.run([*as_user, str(programs / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                        "-o", f"-k {folder} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True)
        try:
            yield f"postgresql://crm@/postgres?host={folder}"
        finally:
            subprocess.run([*as_user, str(programs / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
