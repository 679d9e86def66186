"""Worker processes for the bulk path: blocks of a big file prepared in parallel, in order, and
workers that never outlive the import's main process."""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import marshal
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from crmcli.transfer import csvfiles
from crmcli.transfer.imports import blocks
from crmcli.transfer.imports.base import Chunk

if TYPE_CHECKING:
    from crmcli.transfer.imports.base import Importer

MAX_WORKERS = 4
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_CHECK_SECONDS = 0.5

# What a forked worker works with: (importer, delimiter), set just before the workers start.
_WORK: tuple[Any, str] | None = None


def worker_count() -> int:
    """Worker processes for the bulk path: one per CPU (at most 4), on Linux with 2 CPUs or more.

    Processes, not threads: parsing and checking cells is Python work, which
    threads would run one at a time. Forked workers inherit the importer; on
    other systems, where fork is unsafe or not the default, and on one CPU, rows
    are prepared in the main process.
    """
    if not sys.platform.startswith("linux"):
        return 0
    cpus = len(os.sched_getaffinity(0))
    return min(cpus, MAX_WORKERS) if cpus >= 2 else 0


def prepare_block(block: bytes, first_line: int) -> tuple[str, Any]:
    """In a worker process: a block of whole records -> its prepared chunks, each without its raw
    rows (the main process parses the block again in the rare case that it needs one)."""
    assert _WORK is not None  # set before the workers were forked
    importer, delimiter = _WORK
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = block.rfind(b"\n", 0, exc.start) + 1
        end = block.find(b"\n", exc.start)
        return "utf8", (first_line + block.count(b"\n", 0, exc.start), block[start:end if end >= 0 else len(block)],
                        block.count(b'"', 0, start) % 2 == 0)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = blocks.numbered_rows(reader, first_line)
    except csv.Error as exc:
        return "csv", (first_line + reader.line_num - 1, str(exc))
    chunks = []
    for offset in range(0, len(rows), blocks.CHUNK_ROWS):
        chunk = importer.prepare_chunk(rows[offset:offset + blocks.CHUNK_ROWS])
        for position, rejected in chunk.bad:
            rejected.problems = importer.describe(rejected.problems, chunk.rows[position][0])
        # The values go back marshalled (plain str, int and None): several times quicker to load
        # than pickle, and loading is work for the main process, which also writes the database.
        chunks.append((chunk.size, offset, marshal.dumps((chunk.params, chunk.customer_cells, chunk.positions)),
                       chunk.bad))
    return "ok", chunks


def chunks_from_workers(stream: BinaryIO, counter: csvfiles.Lines, importer: Importer, delimiter: str, source: str,
                        workers: int) -> Generator[Any, None, None]:
    """The file's prepared chunks, in order, from worker processes; at most two blocks per worker
    in flight, so memory stays flat. A file smaller than one block is prepared here."""
    global _WORK
    from concurrent.futures import ProcessPoolExecutor

    first = stream.read(blocks.BLOCK_BYTES)
    if len(first) < blocks.BLOCK_BYTES:  # small: not worth starting processes
        counter.bytes += len(first)
        lines = io.BytesIO(first)
        rest = counter.spawn(lines)
        rest.count = counter.count
        yield from blocks.prepared_chunks(csv.reader(iter(rest), delimiter=delimiter, strict=True), rest, importer,
                                          source)
        counter.count = rest.count
        return
    stream = cast(BinaryIO, csvfiles.Prepended(first, stream))  # read like the file it stands for
    _WORK = (importer, delimiter)
    pending: collections.deque = collections.deque()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_started,
                               initargs=(os.getpid(),))
    try:
        try:
            for block, first_line in blocks.record_blocks(stream, counter):
                pending.append((pool.submit(prepare_block, block, first_line), block, first_line))
                if len(pending) > workers + 1:
                    yield from _finished(pending.popleft(), delimiter, source, counter.header)
        except blocks.NoBoundary as stuck:
            while pending:
                yield from _finished(pending.popleft(), delimiter, source, counter.header)
            rest = counter.spawn(io.BufferedReader(csvfiles.Prepended(stuck.carry, stream)))
            rest.count = stuck.line - 1
            yield from blocks.prepared_chunks(csv.reader(iter(rest), delimiter=delimiter, strict=True), rest,
                                              importer, source)
            counter.bytes += rest.bytes - len(stuck.carry)
            return
        while pending:
            yield from _finished(pending.popleft(), delimiter, source, counter.header)
    except BaseException:
        # Stopped part-way (an error in a row, Ctrl-C, SIGTERM to the whole group): the workers may be gone
        # already, and a block may sit half-written in the pipe to them, with the pool's feeder thread
        # blocked on it; shutdown(wait=True) would then wait for ever (seen under SIGTERM to the group). So
        # end the workers and do not wait. ProcessPoolExecutor has no public way to kill its processes:
        # _processes and _call_queue are read here for that alone.
        _abandon(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        for future, _, _ in pending:
            future.cancel()
        _WORK = None


def _abandon(pool: Any) -> None:
    """End a pool's workers now and let it go without waiting for them or its threads."""
    processes = dict(getattr(pool, "_processes", None) or {})
    for process in processes.values():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.kill()
    call_queue = getattr(pool, "_call_queue", None)
    if call_queue is not None:
        with contextlib.suppress(Exception):
            call_queue.cancel_join_thread()  # at exit, do not wait for the feeder's blocked write
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(Exception):
            process.join(timeout=5)


def _worker_started(parent: int) -> None:
    """First thing in each worker process: it ends with the import's main process.

    A worker waits for blocks on a pipe whose writing end it holds itself (fork), so it would
    never notice the main process going: killed with SIGKILL, that would leave its workers
    waiting for ever, holding the database's deleted -wal file open. On Linux the kernel kills
    a worker when the thread that forked it (the main thread) ends: prctl(PR_SET_PDEATHSIG).
    Where that is not available, a thread checks every PARENT_CHECK_SECONDS that the parent is
    still the process that started the worker. Either way the parent may have died before this
    ran, hence the check of getppid() after. Ctrl-C and SIGTERM are the main process's to handle
    (it rolls back and stops the workers): a worker ignores Ctrl-C and dies of SIGTERM, so
    neither prints a traceback from it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _killed_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), name="crm-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _killed_with_parent() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL) through ctypes; False where there is no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _finished(item: tuple, delimiter: str, source: str, header: list[str] | None = None) -> Iterator[Any]:
    """A block's prepared chunks, once its worker is done; its failure, if any, raised as the file's."""
    future, block, first_line = item
    status, payload = future.result()
    if status == "utf8":
        line, raw, record_start = payload
        raise csvfiles.not_utf8(source, line, raw, header=header, delimiter=delimiter, record_start=record_start)
    if status == "csv":
        raise csvfiles.not_csv(source, *payload)
    rows = blocks.BlockRows(block, first_line, delimiter)
    for size, offset, values_, bad in payload:
        chunk = Chunk([])
        chunk.size, chunk.rows, chunk.bad = size, blocks.ChunkRows(rows, offset), bad
        chunk.params, chunk.customer_cells, chunk.positions = marshal.loads(values_)
        yield chunk
