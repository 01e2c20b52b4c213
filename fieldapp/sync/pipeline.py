"""The merge on both cores (issue 20): a second process reads, decrypts and validates the bundles
of a `merge_files` run, and builds each record's current row, while the merging process writes.

The validating process ("the reader") gets the list of bundles not merged yet and works through
them in order, a bounded number of messages ahead of the writer. For each bundle it sends its
manifest, its checked lines (`apply.checked_lines`, in plain values: tuples, not models) and how
the lines ended. The writer trusts none of it more than it would trust the file:
- it opens the bundle itself, checks the signature and the sealed digest and decides "already",
  the seq cap, the enrolment, exactly as without the reader;
- it takes the reader's lines only when the reader's manifest equals its own (the one whose
  signature it checked); they were checked against that manifest's digests and counts;
- anything that does not fit (another manifest, a bundle the reader failed on, a reader that
  died) makes the writer merge that bundle itself, so a refusal's reason is always the one a
  merge in one process gives.

The two sides share the work as the machine allows (`Reader.lines`): when the reader is the
slower side, the writer claims files and reads them itself while the reader goes on with the
files after them, which the reader then skips. A claim that arrives after the reader began that
file costs the reader's work on it and nothing else: the writer takes nothing of a claimed file
from the reader.

The reader is a plain child interpreter (`python -c`, pickled frames on its stdin and stdout,
claims on its stdin after the job), the same on Windows, and it needs no
`if __name__ == "__main__"` in the caller's script, as multiprocessing's `spawn` would. It stops
by itself when the writer is gone (its pipe breaks).
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from fieldapp.store.rows import BuiltRow
from fieldapp.sync.apply import Checked, RejectedLine, VersionRow, checked_lines
from fieldapp.sync.bundle_format import BundleError, Manifest
from fieldapp.sync.bundle_read import open_bundle

if TYPE_CHECKING:
    from nacl.public import PrivateKey

# a run starts the reader only when its bundles hold at least this many versions: below, the
# reader's start (a new interpreter importing the models, ~0.5 s) costs more than it saves
MIN_VERSIONS = 20_000
MIN_BYTES = (
    2_000_000  # files smaller than this in all are not even opened to count (~140 B a version)
)
SEND_LINES = 1000  # lines in one message at most (about 0.8 MB pickled at scale 1)
SEND_BYTES = 1 << 20  # and about this many bytes of lines at most (a line may be 1 MiB)
# messages the writer holds read ahead, as pickled frames (about 1 MB each): 16, not 8, rides
# out the writer's commits and the reader's large bundles (scale 1, plain, alternated runs:
# 76.3/72.6 -> 72.2/70.7 us a version; the peak stays about 131 MB, the reader's own memory)
QUEUE_MESSAGES = 16
# the writer claims files when the reader is the slower side (`Reader.lines`); False: the reader
# reads every file it was given (tests that check which side read what)
SHARE = True
MAX_FRAME = 64 << 20  # a longer frame is not the reader's: the stream ends there
# a frame: its length and the file it is about (what the writer's thread knows of the reader's
# progress without unpickling it), then its pickle
_HEADER = struct.Struct(">II")
_CLAIM = struct.Struct(">I")  # a file the writer claims (on the reader's stdin, after the job)


class _Gone(Exception):
    """The writer's end of the pipe is closed (it finished, was cancelled or killed)."""


def _send(out: IO[bytes], item: object, file: int = 0) -> None:
    global _private_peak_kb
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    # sampled here, where a message is held twice (its lines and their pickle): the peak
    _private_peak_kb = max(_private_peak_kb, _status_kb("RssAnon") or 0)
    try:
        out.write(_HEADER.pack(len(data), file))
        out.write(data)
        out.flush()
    except OSError as e:  # a broken pipe (EPIPE here, EINVAL on Windows): never half a frame on
        raise _Gone from e


def _frame(source: IO[bytes]) -> tuple[int, bytes] | None:
    """The next frame's file and bytes, or None at the end of the stream (or a frame cut short,
    or too long)."""
    head = source.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    size, file = _HEADER.unpack(head)
    if size > MAX_FRAME:
        return None
    data = source.read(size)
    if len(data) < size:
        return None
    return file, data


def _receive(source: IO[bytes]) -> Any | None:
    """The next frame, unpickled (None at the end of the stream)."""
    frame = _frame(source)
    return None if frame is None else pickle.loads(frame[1])


# A checked line crosses the pipe as plain tuples: a NamedTuple is pickled through a Python call
# on each side (its __getnewargs__, then its __new__), three per line (issue 20: the pickle of a
# message took about half the time). The writer makes them NamedTuples again (`_checked`).
_new = tuple.__new__


def _plain(line: Checked | RejectedLine) -> object:
    if isinstance(line, Checked) and isinstance(line.record, BuiltRow):
        return (
            line.no,
            tuple(line.row),
            line.community_code,
            tuple(line.record),
            line.payload_code,
        )
    return line


def _checked(x: object) -> Checked | RejectedLine:
    """A line as `_plain` sent it, a NamedTuple again (without a Python call per tuple)."""
    if type(x) is tuple and len(x) == len(Checked._fields):
        row, built = x[1], x[3]
        if len(row) == len(VersionRow._fields) and len(built) == len(BuiltRow._fields):
            return _new(Checked, (x[0], _new(VersionRow, row), x[2], _new(BuiltRow, built), x[4]))
    if isinstance(x, Checked | RejectedLine):
        return x
    raise BundleError("校验进程的消息格式不对", "the validating process sent a malformed line")


def _size(line: Checked | RejectedLine) -> int:
    """About what a line weighs in a message: its payload twice (JSON and dict), or its raw text."""
    return len(line.raw) if isinstance(line, RejectedLine) else 2 * len(line.row.payload)


def peak_kb() -> int | None:
    """This process's peak memory so far, in KiB: Linux's VmHWM (getrusage's ru_maxrss would
    count the writer's pages shared at the fork before the exec); None where it is not known."""
    return _status_kb("VmHWM")


def _status_kb(field: str) -> int | None:
    """A figure of Linux's /proc/self/status in KiB (None elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# in the reader: its largest private memory (RssAnon: not the libraries' pages, which the
# writer maps too) seen when it sent a message, in KiB
_private_peak_kb = 0

# the last reader process closed, in KiB (0: none yet, or not known): its peak memory (VmHWM,
# the shared libraries' pages included) and its peak private memory; the benchmark adds them to
# the merge's own
last_peak_kb = 0
last_private_kb = 0


def main(fd: int) -> None:
    """The reader's main: its job from stdin, then every file in order, each as begin, lines...,
    end (or failed), and done. Frames go to `fd`, a copy of stdout taken before anything was
    imported; fd 1 itself is the null device, so nothing a library prints can break a frame."""
    frames = os.fdopen(fd, "wb")
    job = _receive(sys.stdin.buffer)
    if job is None:
        return
    files, key, allow_v1, columns, skip_invalid = job
    from nacl.public import PrivateKey

    claimed: set[int] = set()
    threading.Thread(target=_claims, args=(sys.stdin.buffer, claimed), daemon=True).start()
    district_key = PrivateKey(key) if key is not None else None
    try:
        for i, name in enumerate(files):
            if i in claimed:
                continue  # the writer reads it itself
            try:
                _read(frames, i, Path(name), district_key, allow_v1, columns, skip_invalid)
                _send(frames, ("end", i, (peak_kb(), _private_peak_kb)), i)
            except _Gone:
                raise
            except Exception as e:  # the writer merges this bundle itself and reports why it fails
                _send(frames, ("failed", i, f"{type(e).__name__}: {str(e)[:200]}"), i)
        _send(frames, ("done", len(files), (peak_kb(), _private_peak_kb)), len(files))
    except _Gone:
        pass  # nothing more to do


def _claims(source: IO[bytes], claimed: set[int]) -> None:
    """The reader's thread: the files the writer claims, until its end of the pipe is closed."""
    with suppress(OSError, ValueError):
        while len(data := source.read(_CLAIM.size)) == _CLAIM.size:
            claimed.add(_CLAIM.unpack(data)[0])


class _Refused(Exception):
    """An invalid line without --skip-invalid: the writer refuses the bundle at that line."""


def _read(
    frames: IO[bytes],
    i: int,
    path: Path,
    district_key: PrivateKey | None,
    allow_v1: bool,
    columns: bool,
    skip_invalid: bool,
) -> None:
    """One file: its manifest, then its checked lines in messages of SEND_LINES / SEND_BYTES.
    Without skip_invalid, the first invalid line is the last one sent (the writer stops there)."""
    with open_bundle(path, allow_v1=allow_v1) as reader:
        _send(frames, ("begin", i, reader.manifest), i)
        batch: list[object] = []  # `_plain` lines
        weight = 0
        for line in checked_lines(reader, district_key, build=True, columns=columns):
            batch.append(_plain(line))
            weight += _size(line)
            refused = isinstance(line, RejectedLine) and not skip_invalid
            if len(batch) >= SEND_LINES or weight >= SEND_BYTES or refused:
                _send(frames, ("lines", i, batch), i)
                batch, weight = [], 0
            if refused:
                raise _Refused("invalid line")
        if batch:
            _send(frames, ("lines", i, batch), i)


class Reader:
    """The writer's end: the reader process, and a thread that reads its frames into a bounded
    queue. `lines(i, manifest)` gives the checked lines of the job's i-th file, or None when the
    writer must read that file itself.

    `columns`: the reader also turns each payload into its columns (`store.rows.BuiltRow`). Into
    a plain database the reader is the slower side and leaves that to the writer; into an
    encrypted one, SQLCipher's pages make the writer the slower side, and the reader does it.
    Measured at scale 1 (393,626 versions, µs a version, one run each, the same hour): plain 457
    in one process, 282-316 on both cores (the writer busy 217-241 of them); encrypted 594 in
    one process, 392 on both cores with the columns on the writer, 368 with them on the reader
    (the writer busy 343 and 324)."""

    def __init__(
        self,
        files: list[Path],
        district_key: PrivateKey | None,
        *,
        allow_v1: bool,
        columns: bool = False,
        skip_invalid: bool = False,
    ) -> None:
        home = str(Path(__file__).resolve().parents[2])  # where `fieldapp` is imported from
        # -P: not the working directory (a USB folder's json.py) on sys.path; stdout kept for
        # the frames before anything is imported, fd 1 to the null device
        code = (
            "import os, sys; fd = os.dup(1); os.dup2(os.open(os.devnull, os.O_WRONLY), 1);"
            f" sys.path.append({home!r}); from fieldapp.sync.pipeline import main; main(fd)"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._held: Any | None = None
        self._ended = False
        self.peak_kb = 0  # the reader's peak memory, as its last message said
        self.private_kb = 0  # and its peak private memory
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_MESSAGES)
        self._stop = threading.Event()
        self._files = len(files)
        self._claimed: set[int] = set()  # files the writer reads itself
        self._share = SHARE
        self._arrived = -1  # the last file the reader sent anything of (as far as the thread read)
        self.sent: set[int] = set()  # the files it sent anything of (a "done" counts as the last)
        self._waited = False  # the writer waited for the reader since the last file began
        try:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._thread = threading.Thread(
                target=self._pump, args=(self._process.stdout,), daemon=True
            )
            self._thread.start()
            key = bytes(district_key) if district_key is not None else None
            job = ([str(p) for p in files], key, allow_v1, columns, skip_invalid)
            with suppress(_Gone):  # it died at once: its frames end, the writer reads it all
                _send(self._process.stdin, job)
        except BaseException:
            self._process.kill()
            self._process.wait()
            with suppress(OSError):
                self._process.stdin.close()  # type: ignore[union-attr]
            raise

    def _pump(self, source: IO[bytes]) -> None:
        """The thread: frames into the queue until the stream ends (None marks the end)."""
        try:
            while not self._stop.is_set():
                frame = _frame(source)
                if frame is None:
                    self._put(None)
                    return
                self._arrived = max(self._arrived, frame[0])
                self.sent.add(frame[0])
                self._put(frame[1])
        except Exception:  # a broken pipe: the stream ends there
            self._put(None)

    def _put(self, frame: bytes | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(frame, timeout=0.5)
                return
            except queue.Full:
                continue

    def _next(self) -> Any | None:
        if self._held is not None:
            message, self._held = self._held, None
            return message
        if self._ended:
            return None
        try:
            frame = self._queue.get_nowait()
        except queue.Empty:
            self._waited = True
            frame = self._queue.get()
        try:  # unpickled only now: the queue holds frames (about 1 MB each), not their objects
            message = None if frame is None else pickle.loads(frame)
        except Exception:  # a broken frame: the stream ends there
            message = None
        if message is None:
            self._ended = True
            return None
        if message[0] in ("end", "done"):
            peak, private = message[2]
            self.peak_kb = max(self.peak_kb, peak or 0)
            self.private_kb = max(self.private_kb, private)
        return message

    def lines(self, i: int, manifest: Manifest) -> Iterator[Checked | RejectedLine] | None:
        """The i-th file's lines as the reader checked them, if it read the same manifest (None:
        the writer reads the file itself). The reader is the slower side when the writer finds
        nothing of the i-th file sent yet (the writer then claims it, and reads it now) or had to
        wait for the reader since the last file began (it claims the next file). Measured at
        scale 1 (plain, alternated runs, a machine where the reader was the slower side by 30%):
        205-209 -> 182-196 µs a version, the two sides' CPU 146/190 -> 154-170/161-175."""
        if i in self._claimed:
            return None
        if self._arrived < i and self._claim(i):
            return None  # the reader has not begun it (it starts, or it is still on an earlier one)
        if self._waited:
            self._waited = False
            self._claim(i + 1)
        while True:
            message = self._next()
            if message is None:
                return None  # the reader is gone
            if message[1] > i:  # a file past this one: the reader did not send this one
                self._held = message
                return None
            if message[1] == i:
                break  # (earlier files' messages: the writer did not need them)
        kind, _, value = message
        if kind != "begin" or value != manifest:
            return None  # (the rest of its messages are skipped by the next call)
        return self._stream(i)

    def _claim(self, i: int) -> bool:
        """Tell the reader to leave the i-th file to the writer (if it has not sent any of it)."""
        if (
            not self._share
            or self._ended
            or i >= self._files
            or i <= self._arrived
            or self._process.stdin is None
        ):
            return False
        try:
            self._process.stdin.write(_CLAIM.pack(i))
            self._process.stdin.flush()
        except OSError:  # the reader is gone: the writer reads everything from here on anyway
            return False
        self._claimed.add(i)
        return True

    def _stream(self, i: int) -> Iterator[Checked | RejectedLine]:
        while True:
            message = self._next()
            if message is None:
                raise BundleError("校验进程意外退出", "the validating process stopped unexpectedly")
            kind, at, value = message
            if at != i:
                raise BundleError("校验进程的消息错位", "the validating process is out of step")
            if kind == "lines":
                for x in value:
                    yield _checked(x)
            elif kind == "end":
                return
            else:  # failed: merged again by the writer alone, which gives the reason
                raise BundleError(f"校验失败：{value}", f"validation failed: {value}")

    def close(self) -> None:
        """Stop the reader (it may be ahead by a few messages) and wait for it."""
        global last_peak_kb, last_private_kb
        with suppress(queue.Empty):  # what it said last (a finished reader's "done")
            for _ in range(QUEUE_MESSAGES + 2):
                if self._ended or not self._queue.qsize():
                    break
                self._next()
        last_peak_kb, last_private_kb = self.peak_kb, self.private_kb
        self._stop.set()
        with suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        if self._process.poll() is None:
            self._process.kill()
        with suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=30)
        self._thread.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
