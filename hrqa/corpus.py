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

from hrqa.errors import CorpusError
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
    """A file hrqa skipped or read only in part, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    warnings: tuple[CorpusWarning, ...]
    #: stripped lines that occur in several documents; chunking leaves them out of the index
    boilerplate: frozenset[str]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_corpus(folder: Path, max_file_bytes: int = 20_000_000) -> Corpus:
    """Read every supported file under ``folder``; skip bad ones with a warning naming each."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist; pass --corpus DIR or create it")
    catalog, warnings = load_catalog(folder / CATALOG_NAME)
    documents: list[Document] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.name in NOT_DOCUMENTS:
            continue
        try:
            documents.extend(read_file(path, relative, catalog, max_file_bytes))
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


def read_file(path: Path, relative: str, catalog: dict[str, dict], max_file_bytes: int) -> list[Document]:
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
        return [_document(relative, pdf_text(data), digest, catalog.get(relative, {}))]
    text = decode_text(data)
    if suffix == ".jsonl":
        return list(jsonl_documents(text, relative, catalog))
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


def jsonl_documents(text: str, relative: str, catalog: dict[str, dict]):
    """Each ``{"_id","title","text"}`` record of a collection is a document ``file.jsonl#<_id>``."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_id, body = str(record["_id"]), record["text"]
        except (ValueError, KeyError, TypeError):
            raise _Skip(f'line {number} is not a {{"_id", "title", "text"}} record') from None
        if not isinstance(body, str) or not body.strip():
            continue
        doc_id = f"{relative}#{record_id}"
        entry = dict(catalog.get(doc_id, {}))
        if record.get("title") and not entry.get("title"):
            entry["title"] = str(record["title"])
        seen += 1
        yield _document(doc_id, body, sha256_bytes(line.encode("utf-8")), entry)
    if not seen:
        raise _Skip("no records with text")


def pdf_text(data: bytes) -> str:
    """Text of each page, pages separated by a blank line (pypdf)."""
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _Skip("encrypted PDF; decrypt it first (qpdf --decrypt)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except _Skip:
        raise
    # pypdf raises many kinds on a damaged file (PdfReadError, LimitReachedError, AttributeError,
    # RecursionError ...): any of them means this one file is unreadable, not that the build fails.
    except Exception as error:  # noqa: BLE001
        raise _Skip(f"unreadable PDF ({error.__class__.__name__})") from None
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
