"""The snapshot folders of an index: the CURRENT pointer, the build lock, atomic writes, checksums.

    index/CURRENT                name of the live snapshot (replaced atomically)
    index/.build.lock            held by the one rebuild that may run
    index/snapshots/<id>/        one built snapshot (``hrqa.store`` reads it, ``hrqa.build`` writes it)

Nothing here knows what a snapshot holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from hrqa import corpus as corpus_module
from hrqa.errors import IndexBusyError, IndexCorruptError, IndexMissingError, IndexWriteError, printable

REBUILD_HINT = "rebuild it with: hrqa index"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def corpus_fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file a build reads (documents and catalog): a change means a stale index.
    Files the corpus reader never reads (links out of the folder, dot files) are not hashed either."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    result: dict[str, str] = {}
    for path, relative in corpus_module.corpus_files(folder)[0]:
        try:
            result[relative] = file_sha256(path)
        except OSError:  # unreadable: the reader skips it with a warning
            result[relative] = "unreadable"
    return result


def snapshots_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "snapshots"


#: a CURRENT pointer holds one snapshot name (about 25 bytes); anything longer is not a pointer
POINTER_MAX_BYTES = 256


def current_snapshot(index_dir: Path) -> Path:
    """The live snapshot folder named by CURRENT.

    Whatever CURRENT is (a directory, a FIFO, a device, a huge or binary file, a name too long for the
    file system), it is never opened in a way that could block, and anything but a regular file naming
    an existing snapshot is IndexCorruptError ("no usable snapshot"), which ``hrqa index`` repairs.
    """
    pointer = Path(index_dir) / "CURRENT"
    try:
        info = os.stat(pointer)
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {index_dir}; build it with: hrqa index") from None
    except OSError as error:
        raise IndexCorruptError(f"cannot read {pointer} ({error.strerror}); {REBUILD_HINT}") from None
    if not stat.S_ISREG(info.st_mode):
        raise IndexCorruptError(f"{pointer} is not a file; {REBUILD_HINT}")
    try:
        # O_NONBLOCK: should CURRENT become a FIFO after the check above, open() must not wait for a writer
        descriptor = os.open(pointer, os.O_RDONLY | os.O_NONBLOCK)
        try:
            raw = os.read(descriptor, POINTER_MAX_BYTES + 1)
        finally:
            os.close(descriptor)
        name = raw.decode("utf-8").strip()
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"cannot read {pointer} ({error}); {REBUILD_HINT}") from None
    shown = printable(repr(name if len(name) <= 60 else name[:60] + "…"))
    # a snapshot name never starts with "." (".." or an unfinished ".building-*")
    if (
        not name
        or len(raw) > POINTER_MAX_BYTES
        or not name.isprintable()
        or "/" in name
        or "\\" in name
        or name.startswith(".")
    ):
        raise IndexCorruptError(f"{pointer} names a missing snapshot {shown}; {REBUILD_HINT}")
    path = snapshots_dir(index_dir) / name
    try:
        is_snapshot = path.is_dir()
    except OSError:  # a name the file system refuses (too long, ...)
        is_snapshot = False
    if not is_snapshot:
        raise IndexCorruptError(f"{pointer} names a missing snapshot {shown}; {REBUILD_HINT}")
    return path


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """One rebuild at a time: a second one waits (``wait``) or is refused with IndexBusyError."""
    try:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        handle = (Path(index_dir) / ".build.lock").open("a+")
    except OSError as error:
        raise write_error(index_dir, error) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise IndexBusyError(
                f"another rebuild of {index_dir} is running; wait for it to finish and try again"
            ) from None
        yield
    finally:
        handle.close()  # closing releases the lock, also when the process dies


def write_error(index_dir: Path, error: BaseException) -> IndexWriteError:
    """One line naming the index folder and the cause of a failed write (read-only, full, too big)."""
    if isinstance(error, OSError) and error.strerror:
        cause = error.strerror + (f": {printable(error.filename)}" if error.filename else "")
    else:  # FAISS reports a failed write as RuntimeError with a multi-line message
        lines = str(error).strip().splitlines() or [error.__class__.__name__]
        cause = printable(lines[-1] if "Error" in lines[-1] or len(lines) == 1 else lines[0])
    return IndexWriteError(
        f"cannot write the index in {printable(index_dir)} ({cause}); the index in use is unchanged. "
        "Make the folder writable or free some space, then run: hrqa index"
    )


def prune(base: Path, keep: set[str]) -> None:
    """Drop every snapshot but ``keep``: the new one and the one it replaced (a reader may still hold
    it). This also drops snapshots that a killed build renamed into place but never made live."""
    for old in base.iterdir():
        if old.is_dir() and not old.name.startswith(".") and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
