"""Reading a corpus folder: files and collections into Documents, the catalog, boilerplate lines."""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from collections import Counter
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

from hrqa.errors import CorpusError, printable
from hrqa.records import Document

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".html", ".htm", ".pdf", ".jsonl"}
CATALOG_NAME = "catalog.toml"
#: files in a corpus folder that are about the corpus rather than part of it
NOT_DOCUMENTS = {CATALOG_NAME, "README", "README.md", "readme.md"}
#: catalog fields a document may carry
CATALOG_FIELDS = ("title", "date", "publisher", "kind", "url")
#: a line repeated in this many documents or more is site furniture, not content
BOILERPLATE_MIN_DOCUMENTS = 2
#: ... unless a line this short (list numbers, "***") happens to repeat by chance
BOILERPLATE_MIN_CHARS = 12
#: navigation is short; two long identical lines are shared content (a quotation, a duplicate record)
BOILERPLATE_MAX_CHARS = 200


@dataclass(frozen=True)
class CorpusWarning:
    """A file (or one line of a collection) hrqa skipped, or a file it read with a complaint, and why."""

    path: str
    reason: str
    #: the line of a ``.jsonl`` collection that was skipped (None: the whole file)
    line: int | None = None
    #: False for a file that was read, with a message from its reader (pypdf) worth knowing
    skipped: bool = True

    def __str__(self) -> str:
        where = printable(self.path) + (f" line {self.line}" if self.line is not None else "")
        return f"skipped {where}: {self.reason}" if self.skipped else f"{where}: {self.reason}"


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    warnings: tuple[CorpusWarning, ...]
    #: stripped lines that occur in several documents; chunking leaves them out of the index
    boilerplate: frozenset[str]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corpus_files(folder: Path) -> tuple[list[tuple[Path, str]], list[CorpusWarning]]:
    """(path, relative name) of every regular file under ``folder`` that is part of the corpus, sorted,
    and a warning for each one whose real path leaves the folder (a symbolic link to /etc/passwd, say,
    unpacked from an archive): those are never read. Dot files and dot folders are left out."""
    folder = Path(folder)
    real_folder = folder.resolve()
    files: list[tuple[Path, str]] = []
    warnings: list[CorpusWarning] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative_path = path.relative_to(folder)
        if any(part.startswith(".") for part in relative_path.parts):
            continue
        relative = relative_path.as_posix()
        if path.is_symlink() or any(parent.is_symlink() for parent in relative_path.parents if parent != Path(".")):
            try:
                inside = path.resolve(strict=True).is_relative_to(real_folder)
            except (OSError, RuntimeError):  # a loop of links, or gone since the listing
                inside = False
            if not inside:
                warnings.append(CorpusWarning(relative, "a symbolic link to a file outside the corpus folder"))
                continue
        files.append((path, relative))
    return files, warnings


def read_corpus(folder: Path, max_file_bytes: int = 20_000_000) -> Corpus:
    """Read every supported file under ``folder``; skip bad ones with a warning naming each."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass --corpus DIR or create it")
    files, outside = corpus_files(folder)
    listed = {relative for _, relative in files}
    catalog, warnings = load_catalog(folder / CATALOG_NAME) if CATALOG_NAME in listed else ({}, [])
    warnings.extend(outside)
    documents: list[Document] = []
    for path, relative in files:
        if path.name in NOT_DOCUMENTS:
            continue
        try:
            documents.extend(read_file(path, relative, catalog, max_file_bytes, warnings))
        except _Skip as skip:
            warnings.append(CorpusWarning(relative, str(skip)))
        except OSError as error:  # unreadable (permissions) or gone since the listing
            warnings.append(CorpusWarning(relative, f"cannot be read ({error.strerror or error})"))
    for entry in sorted(set(catalog) - {d.id for d in documents} - {d.id.split("#")[0] for d in documents}):
        warnings.append(CorpusWarning(CATALOG_NAME, f"entry {entry!r} names no document in the corpus"))
    for warning in warnings:
        log.warning("%s", warning)
    boilerplate = find_boilerplate(documents)
    documents = [_retitled(d, catalog, boilerplate) for d in documents]
    return Corpus(tuple(documents), tuple(warnings), boilerplate)


def _retitled(document: Document, catalog: dict[str, dict], boilerplate: frozenset[str]) -> Document:
    """A document titled from its first line gets its first line that is not site furniture."""
    if catalog.get(document.id, {}).get("title") or "#" in document.id or not boilerplate:
        return document
    content = "\n".join(line for line in document.text.split("\n") if line.strip() not in boilerplate)
    return replace(document, title=first_line_title(content, document.id))


class _Skip(Exception):
    """A file that cannot be read as a document (the message says why)."""


def read_file(
    path: Path,
    relative: str,
    catalog: dict[str, dict],
    max_file_bytes: int,
    warnings: list[CorpusWarning] | None = None,
) -> list[Document]:
    """The documents of one file; skipped lines of a collection and reader messages go to ``warnings``."""
    warnings = [] if warnings is None else warnings
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise _Skip(f"unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    size = path.stat().st_size
    if size == 0:
        raise _Skip("empty file")
    if size > max_file_bytes:
        raise _Skip(f"{size} bytes is over the size limit of {max_file_bytes} (setting max_file_bytes)")
    data = path.read_bytes()
    digest = sha256_bytes(data)
    if suffix == ".pdf":
        return [_document(relative, pdf_text(data, relative, warnings), digest, catalog.get(relative, {}))]
    text = decode_text(data)
    if suffix == ".jsonl":
        return jsonl_documents(text, relative, catalog, warnings)
    if suffix in {".html", ".htm"}:
        text = html_text(text)
    return [_document(relative, text, digest, catalog.get(relative, {}))]


def decode_text(data: bytes) -> str:
    """UTF-8 text exactly as ``Path.read_text(encoding="utf-8")`` gives it, or a reason to skip."""
    if b"\x00" in data[:8192]:
        raise _Skip("binary content (NUL bytes) in a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Skip(f"not UTF-8 (byte {error.start}); convert it with iconv -t utf-8") from None
    # read_text uses universal newlines; keep the same text so offsets agree with it
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _document(doc_id: str, text: str, digest: str, entry: dict) -> Document:
    if not text.strip():
        raise _Skip("no text in it")
    return Document(
        id=doc_id,
        text=text,
        sha256=digest,
        title=entry.get("title") or first_line_title(text, doc_id),
        date=entry.get("date"),
        publisher=entry.get("publisher"),
        kind=entry.get("kind"),
        url=entry.get("url"),
    )


def first_line_title(text: str, fallback: str, limit: int = 120) -> str:
    """A document with no catalog entry is titled by its first non-empty line (never invented)."""
    for line in text.splitlines():
        line = " ".join(line.lstrip("#").split())  # a Markdown heading's marks are not its title
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return fallback


def jsonl_documents(
    text: str, relative: str, catalog: dict[str, dict], warnings: list[CorpusWarning] | None = None
) -> list[Document]:
    """Each ``{"_id","title","text"}`` record of a collection is a document ``file.jsonl#<_id>``.

    A line that is not such a record, a record whose text is not a non-empty string, and a second record
    with an ``_id`` already seen are skipped with a warning naming the file and line; the rest is kept.
    """
    warnings = [] if warnings is None else warnings
    documents: list[Document] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), 1):  # only "\n" ends a JSON Lines record
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_id, body = record["_id"], record["text"]
        except (ValueError, KeyError, TypeError, RecursionError):
            warnings.append(CorpusWarning(relative, 'not a {"_id", "title", "text"} record', number))
            continue
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool) or not str(record_id).strip():
            warnings.append(
                CorpusWarning(relative, f"_id {printable(repr(record_id))} is not a string or number", number)
            )
            continue
        record_id = str(record_id)
        if record_id in first_line:
            warnings.append(
                CorpusWarning(
                    relative,
                    f"duplicate _id {printable(repr(record_id))} (first on line {first_line[record_id]}); "
                    "give each record its own _id",
                    number,
                )
            )
            continue
        first_line[record_id] = number
        if not isinstance(body, str) or not body.strip():
            shown = "empty" if isinstance(body, str) else f"a {type(body).__name__}, not a string"
            warnings.append(
                CorpusWarning(relative, f"record {printable(repr(record_id))}: its text is {shown}", number)
            )
            continue
        doc_id = f"{relative}#{record_id}"
        entry = dict(catalog.get(doc_id, {}))
        if record.get("title") and not entry.get("title"):
            entry["title"] = str(record["title"])
        documents.append(_document(doc_id, body, sha256_bytes(line.encode("utf-8")), entry))
    if not documents:
        raise _Skip("no records with text")
    return documents


#: pypdf messages kept per file (a damaged file can log one per object)
PDF_MESSAGES_SHOWN = 3


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pdf_text(data: bytes, relative: str = "", warnings: list[CorpusWarning] | None = None) -> str:
    """Text of each page, pages separated by a blank line (pypdf). pypdf's own warnings about the file
    become warnings naming it (``relative``) instead of anonymous log lines."""
    import io
    import warnings as python_warnings

    from pypdf import PdfReader

    collect = _Collect()
    pypdf_log = logging.getLogger("pypdf")
    pypdf_log.addHandler(collect)
    propagate, pypdf_log.propagate = pypdf_log.propagate, False
    try:
        with python_warnings.catch_warnings(record=True) as caught:
            python_warnings.simplefilter("always")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise _Skip("encrypted PDF; decrypt it first (qpdf --decrypt)")
            pages = [page.extract_text() or "" for page in reader.pages]
        collect.messages.extend(str(w.message) for w in caught)
    except _Skip:
        raise
    # pypdf raises many kinds on a damaged file (PdfReadError, LimitReachedError, AttributeError,
    # RecursionError ...): any of them means this one file is unreadable, not that the build fails.
    except Exception as error:  # noqa: BLE001
        raise _Skip(f"unreadable PDF ({error.__class__.__name__})") from None
    finally:
        pypdf_log.removeHandler(collect)
        pypdf_log.propagate = propagate
    if warnings is not None and collect.messages:
        unique = list(dict.fromkeys(" ".join(m.split()) for m in collect.messages))
        shown = "; ".join(printable(m) for m in unique[:PDF_MESSAGES_SHOWN])
        more = f" and {len(unique) - PDF_MESSAGES_SHOWN} more" if len(unique) > PDF_MESSAGES_SHOWN else ""
        warnings.append(CorpusWarning(relative, f"pypdf: {shown}{more}", skipped=False))
    return "\n\n".join(page.strip("\n") for page in pages)


class _VisibleText(HTMLParser):
    HIDDEN = frozenset({"script", "style", "head", "noscript", "template"})
    BLOCKS = frozenset(
        {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "ul", "ol"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag == "body":  # an unclosed <head> (allowed in HTML) must not hide the page
            self.hidden = 0
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            # <br> is a line break inside a paragraph, not a new paragraph
            self.parts.append("\n" if tag in {"li", "br"} else "\n\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS and tag != "br":  # <br/> also calls this; it was handled at the start
            self.parts.append("\n\n" if tag != "li" else "\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """Visible text of an HTML page, paragraphs separated by blank lines."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def load_catalog(path: Path) -> tuple[dict[str, dict], list[CorpusWarning]]:
    """``catalog.toml``: one table per document, keyed by its id, with title/date/publisher/kind/url."""
    if not path.exists():
        return {}, []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        return {}, [CorpusWarning(path.name, f"catalog ignored, it is not valid TOML: {error}")]
    catalog: dict[str, dict] = {}
    warnings: list[CorpusWarning] = []
    for doc_id, entry in raw.items():
        if not isinstance(entry, dict):
            warnings.append(CorpusWarning(path.name, f"entry {doc_id!r} is not a table"))
            continue
        clean: dict[str, str] = {}
        for key, value in entry.items():
            if key not in CATALOG_FIELDS:
                warnings.append(CorpusWarning(path.name, f"entry {doc_id!r}: unknown field {key!r}"))
            elif key == "date":
                date = _iso_date(value)
                if date is None:
                    warnings.append(
                        CorpusWarning(path.name, f"entry {doc_id!r}: date {value!r} is not ISO (YYYY-MM-DD)")
                    )
                else:
                    clean["date"] = date
            elif isinstance(value, str) and value.strip():
                clean[key] = value.strip()
            else:
                warnings.append(CorpusWarning(path.name, f"entry {doc_id!r}: {key} must be a non-empty string"))
        catalog[doc_id] = clean
    return catalog, warnings


def _iso_date(value) -> str | None:
    import datetime as dt

    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        for parse in (
            dt.date.fromisoformat,
            lambda v: dt.datetime.strptime(v, "%Y-%m").date(),
            lambda v: dt.datetime.strptime(v, "%Y").date(),
        ):
            try:
                parse(value)
                return value
            except ValueError:
                continue
    return None


def find_boilerplate(documents: list[Document] | tuple[Document, ...]) -> frozenset[str]:
    """Stripped lines that occur verbatim in several documents: navigation and share buttons."""
    counts: Counter[str] = Counter()
    for document in documents:
        lines = {line.strip() for line in document.text.split("\n")}
        counts.update(line for line in lines if BOILERPLATE_MIN_CHARS <= len(line) <= BOILERPLATE_MAX_CHARS)
    return frozenset(line for line, n in counts.items() if n >= BOILERPLATE_MIN_DOCUMENTS)
