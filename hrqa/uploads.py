"""Adding an uploaded file to the corpus folder: a safe name, an allowed type, a size limit, and a
destination that can only be inside the corpus folder. No other module writes into the corpus."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from hrqa.errors import HrqaError

#: what the web app accepts (the corpus reader also reads .jsonl collections, which are not uploaded)
ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
#: longest file name kept, extension included
MAX_NAME_CHARS = 100
#: names the corpus reader treats as being about the corpus rather than documents of it
_RESERVED = {"readme", "readme.md", "catalog.toml"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(HrqaError):
    """An uploaded file that is not added to the corpus (the message says why)."""


@dataclass(frozen=True)
class SavedUpload:
    original: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def sanitise_name(original: str) -> str:
    """A file name safe to create in the corpus folder: the last path component only, ASCII letters,
    digits, ``.``, ``_`` and ``-``, no leading dot, a lower-case allowed extension, at most
    MAX_NAME_CHARS characters.

    >>> sanitise_name("../../etc/Über Bericht (2024).PDF")
    'Uber_Bericht_2024.pdf'
    """
    base = re.split(r"[\\/]", str(original))[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in ALLOWED_SUFFIXES:
        shown = suffix or "(none)"
        raise UploadError(
            f"{original!r}: file type {shown} is not accepted; upload one of: {', '.join(ALLOWED_SUFFIXES)}"
        )
    stem = _UNSAFE.sub("_", stem).strip("._-")
    stem = re.sub(r"_{2,}", "_", stem)[: MAX_NAME_CHARS - len(suffix)].rstrip("._-")
    if not stem:
        stem = "upload"
    name = stem + suffix
    if name.lower() in _RESERVED or stem.lower() in _RESERVED:
        name = f"upload-{name}"
    return name


def check_content(data_head: bytes, suffix: str) -> None:
    """Refuse content that cannot be what its extension says (the corpus reader would skip it)."""
    if suffix == ".pdf":
        if not data_head.startswith(b"%PDF-"):
            raise UploadError("not a PDF file (it does not start with %PDF-)")
    elif b"\x00" in data_head:
        raise UploadError(f"binary content in a {suffix} file")


def save_upload(source: Path, original_name: str, corpus_dir: Path, max_bytes: int) -> SavedUpload:
    """Copy ``source`` into ``corpus_dir`` under a sanitised name; never overwrite, never leave it.

    An existing name gets a numbered variant (``report-1.pdf``). The copy is written to a hidden
    temporary file first (the corpus reader skips dot files) and linked to its name only when
    complete, so a rebuild running meanwhile never reads half a file.
    """
    name = sanitise_name(original_name)
    corpus = Path(corpus_dir).resolve()
    if not corpus.is_dir():
        raise UploadError(f"corpus folder {corpus_dir} does not exist")
    source = Path(source)
    try:
        size = source.stat().st_size
    except OSError as error:
        raise UploadError(f"{original_name!r}: the uploaded file cannot be read ({error.strerror})") from None
    if size == 0:
        raise UploadError(f"{original_name!r} is empty")
    if size > max_bytes:
        raise UploadError(f"{original_name!r} has {size} bytes, over the limit of {max_bytes} (setting max_file_bytes)")
    stem, suffix = name[: -len(Path(name).suffix)], Path(name).suffix
    with source.open("rb") as handle:
        head = handle.read(8192)
    try:
        check_content(head, suffix)
    except UploadError as error:
        raise UploadError(f"{original_name!r}: {error}") from None

    handle, temporary = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=corpus)
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as src:
            copied = 0
            for block in iter(lambda: src.read(1 << 20), b""):
                copied += len(block)
                if copied > max_bytes:  # the file grew since stat()
                    raise UploadError(f"{original_name!r} is over the limit of {max_bytes} bytes")
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        for attempt in range(1000):
            candidate = corpus / (name if attempt == 0 else f"{stem}-{attempt}{suffix}")
            if candidate.parent != corpus or candidate.name in (
                "",
                ".",
                "..",
            ):  # a sanitised name cannot; checked anyway
                raise UploadError(f"{original_name!r}: refusing to write outside the corpus folder")
            try:
                os.link(temporary, candidate)  # fails if the name exists (also as a symlink)
            except FileExistsError:
                continue
            return SavedUpload(original_name, candidate)
        raise UploadError(f"{original_name!r}: too many files named like {name}")
    finally:
        Path(temporary).unlink(missing_ok=True)
