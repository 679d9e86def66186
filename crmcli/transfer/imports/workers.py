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

from crmcli.errors import CrmError
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


class _Worker:
    """One forked worker process, and the two pipes to it that only it and the main process hold.

    Written by hand rather than with ProcessPoolExecutor, whose pipes every worker shares: a worker
    killed part-way through writing its result (SIGTERM to the whole group, or an import that stops
    at a bad row) left half a message in the shared result pipe, the pool's thread waited for the
    rest for ever, and so did the interpreter at exit (seen under load). Here a worker that dies
    closes the only writing end of its result pipe, and the main process reads the end of the file.
    """

    def __init__(self, context: Any, parent: int, inherited: list[Any]) -> None:
        task_reader, self.tasks = context.Pipe(duplex=False)
        self.results, result_writer = context.Pipe(duplex=False)
        # The worker closes the main process's ends of every pipe, its own and earlier workers',
        # so that each pipe has one reader and one writer.
        inherited = [*inherited, self.tasks, self.results]
        self.process = context.Process(target=_serve, args=(task_reader, result_writer, parent, inherited),
                                       name="crm-import-worker", daemon=True)
        self.process.start()
        task_reader.close()
        result_writer.close()

    def send(self, block: bytes, first_line: int) -> None:
        self.tasks.send((block, first_line))

    def receive(self) -> tuple[str, Any]:
        try:
            status, payload = self.results.recv()
        except (EOFError, OSError):  # OSError: it died part-way through its result
            self.process.join(timeout=5)
            raise WorkerStopped(f"an import worker process (pid {self.process.pid}) stopped before it finished "
                                f"(exit code {self.process.exitcode}); nothing was imported") from None
        if status == "raised":
            raise WorkerStopped(f"an import worker process failed; nothing was imported:\n{payload}")
        return status, payload

    def stop(self, kill: bool) -> None:
        """Tell the worker there is no more work (or kill it, when the import stops part-way) and wait for it."""
        if kill:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                self.process.kill()
        for pipe in (self.tasks, self.results):
            pipe.close()  # an idle worker reads the end of its task pipe and returns
        self.process.join(timeout=5)


class WorkerStopped(CrmError):
    """A worker process ended without its result: killed from outside, or a bug in preparing a block."""


def _serve(tasks: Any, results: Any, parent: int, inherited: list[Any]) -> None:
    """A worker process's life: prepare each block it is sent, until its task pipe ends."""
    for pipe in inherited:
        pipe.close()
    _worker_started(parent)
    while True:
        try:
            block, first_line = tasks.recv()
        except (EOFError, OSError):  # the main process is done with this worker, or gone
            return
        try:
            outcome = prepare_block(block, first_line)
        except Exception:
            import traceback

            outcome = ("raised", traceback.format_exc())
        try:
            results.send(outcome)
        except OSError:  # the main process is gone (killed) or stopped reading: nothing to tell
            return


def chunks_from_workers(stream: BinaryIO, counter: csvfiles.Lines, importer: Importer, delimiter: str, source: str,
                        workers: int) -> Generator[Any, None, None]:
    """The file's prepared chunks, in order, from worker processes; one block per worker in flight, so
    memory stays flat. A file smaller than one block is prepared here."""
    global _WORK

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
    context = multiprocessing.get_context("fork")
    pool: list[_Worker] = []
    stopped_part_way = True
    try:
        for _ in range(workers):
            earlier_ends = [end for worker in pool for end in (worker.tasks, worker.results)]
            pool.append(_Worker(context, os.getpid(), earlier_ends))
        # Block n goes to worker n % workers, and results are taken oldest first: when every worker
        # has a block, the oldest one's worker is the next block's, and it is idle once its result
        # is read, so a send never waits on a worker that is itself waiting to send.
        pending: collections.deque = collections.deque()
        try:
            for number, (block, first_line) in enumerate(blocks.record_blocks(stream, counter)):
                worker = pool[number % workers]
                if len(pending) < workers:
                    worker.send(block, first_line)
                    pending.append((worker, block, first_line))
                    continue
                _, old_block, old_first_line = pending.popleft()  # the same worker's previous block
                result = worker.receive()
                worker.send(block, first_line)
                pending.append((worker, block, first_line))
                yield from _finished(result, old_block, old_first_line, delimiter, source, counter.header)
        except blocks.NoBoundary as stuck:
            yield from _drain(pending, delimiter, source, counter.header)
            rest = counter.spawn(io.BufferedReader(csvfiles.Prepended(stuck.carry, stream)))
            rest.count = stuck.line - 1
            yield from blocks.prepared_chunks(csv.reader(iter(rest), delimiter=delimiter, strict=True), rest,
                                              importer, source)
            counter.bytes += rest.bytes - len(stuck.carry)
            stopped_part_way = False
            return
        yield from _drain(pending, delimiter, source, counter.header)
        stopped_part_way = False
    finally:
        # Stopped part-way (an error in a row, Ctrl-C, SIGTERM): the workers are killed, not waited for.
        for worker in pool:
            worker.stop(kill=stopped_part_way)
        _WORK = None


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


def _drain(pending: collections.deque, delimiter: str, source: str, header: list[str] | None) -> Iterator[Any]:
    """The chunks of the blocks still with the workers, oldest first."""
    while pending:
        worker, block, first_line = pending.popleft()
        yield from _finished(worker.receive(), block, first_line, delimiter, source, header)


def _finished(outcome: tuple[str, Any], block: bytes, first_line: int, delimiter: str, source: str,
              header: list[str] | None = None) -> Iterator[Any]:
    """A block's prepared chunks from its worker's outcome; its failure, if any, raised as the file's."""
    status, payload = outcome
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
