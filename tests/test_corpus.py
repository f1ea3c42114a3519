"""Reading a corpus folder: each file type, the catalog, provenance, boilerplate, and skipped files."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import pytest

from hrqa.corpus import (
    CorpusWarning,
    find_boilerplate,
    first_line_title,
    html_text,
    load_catalog,
    read_corpus,
)
from hrqa.errors import CorpusError
from hrqa.records import Document
from tests.helpers import make_pdf

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def by_id(corpus) -> dict[str, Document]:
    return {d.id: d for d in corpus.documents}


# ----------------------------------------------------------------------------- file types


def test_txt_and_md_text_is_exactly_read_text(tiny_corpus: Path):
    corpus = read_corpus(tiny_corpus)
    docs = by_id(corpus)
    assert sorted(docs) == ["a.txt", "b.txt", "c.md"]
    for doc_id, document in docs.items():
        assert document.text == (tiny_corpus / doc_id).read_text(encoding="utf-8")
    assert corpus.warnings == ()


def test_crlf_and_bom_text_matches_read_text(tmp_path: Path):
    (tmp_path / "w.txt").write_bytes("\ufeffWindows line one.\r\nLine two.\r\rOld Mac.\n".encode())
    document = read_corpus(tmp_path).documents[0]
    assert document.text == (tmp_path / "w.txt").read_text(encoding="utf-8")
    assert "\r" not in document.text


def test_sha256_is_of_the_file_bytes(tiny_corpus: Path):
    for document in read_corpus(tiny_corpus).documents:
        assert document.sha256 == hashlib.sha256((tiny_corpus / document.id).read_bytes()).hexdigest()


def test_html_keeps_visible_text_and_drops_script_and_style(tmp_path: Path):
    (tmp_path / "page.html").write_text(
        "<!doctype html><html><head><title>Tab title</title><style>p { color: red }</style>"
        "<script>var secret = 'hidden code';</script></head><body><h1>Harbour  news</h1>"
        "<p>The harbour &amp; the pier<br>opened in 1901.</p><script>alert('also hidden')</script>"
        "<noscript>Enable JavaScript</noscript><ul><li>Pier one</li><li>Pier two</li></ul>"
        "<p>Caf&eacute; <b>bold</b> end.</p></body></html>",
        encoding="utf-8",
    )
    document = read_corpus(tmp_path).documents[0]
    assert document.id == "page.html"
    assert document.text == (
        "Harbour news\n\nThe harbour & the pier\nopened in 1901.\n\nPier one\n\nPier two\n\nCafé bold end.\n"
    )
    for hidden in ("secret", "hidden", "color", "Enable JavaScript", "Tab title"):
        assert hidden not in document.text
    assert document.title == "Harbour news"


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # <br> is a line break inside the paragraph (chunking rejoins it), not a paragraph break
        ("<p>one<br>two<br/>three</p>", "one\ntwo\nthree\n"),
        # a page that never closes <head> still shows its body
        ("<html><head><title>t</title><body><p>Body text.</p></body></html>", "Body text.\n"),
        ("<div>a</div><div>b</div>", "a\n\nb\n"),
    ],
)
def test_html_text_layout(markup: str, expected: str):
    assert html_text(markup) == expected


def test_pdf_text_per_page(tmp_path: Path):
    data = make_pdf([["The harbour opened in 1901.", "It closed in 1950."], ["Second page text."]])
    (tmp_path / "report.pdf").write_bytes(data)
    document = read_corpus(tmp_path).documents[0]
    assert document.id == "report.pdf"
    assert document.text == "The harbour opened in 1901.\nIt closed in 1950.\n\nSecond page text."
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.title == "The harbour opened in 1901."


def test_pdf_without_text_and_encrypted_pdf_are_skipped(tmp_path: Path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    (tmp_path / "blank.pdf").write_bytes(buffer.getvalue())
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    (tmp_path / "locked.pdf").write_bytes(buffer.getvalue())
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (tmp_path / "ok.txt").write_text("Kept.\n", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["ok.txt"]
    reasons = {w.path: w.reason for w in corpus.warnings}
    assert reasons["blank.pdf"] == "no text in it"
    assert reasons["locked.pdf"].startswith("encrypted PDF")
    assert reasons["broken.pdf"].startswith("unreadable PDF")


def test_jsonl_collection_records_are_documents(tmp_path: Path):
    lines = [
        {"_id": "d1", "title": "Harbour", "text": "The harbour opened in 1901."},
        {"_id": 7, "title": "", "text": "Untitled record.\nSecond line."},
        {"_id": "empty", "title": "Nothing", "text": "   "},
    ]
    (tmp_path / "coll.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n\n", encoding="utf-8")
    (tmp_path / "catalog.toml").write_text('["coll.jsonl#d1"]\npublisher = "Port Authority"\n', encoding="utf-8")
    corpus = read_corpus(tmp_path)
    docs = by_id(corpus)
    assert sorted(docs) == ["coll.jsonl#7", "coll.jsonl#d1"]
    first = docs["coll.jsonl#d1"]
    assert first.text == "The harbour opened in 1901."
    assert (first.title, first.publisher, first.date) == ("Harbour", "Port Authority", None)
    assert first.sha256 == hashlib.sha256(json.dumps(lines[0]).encode()).hexdigest()
    assert docs["coll.jsonl#7"].title == "Untitled record."
    # a record without text is no longer dropped silently (issue 14)
    assert corpus.warnings == (CorpusWarning("coll.jsonl", "record 'empty': its text is empty", 3),)


def test_jsonl_with_a_bad_line_is_skipped_naming_the_line(tmp_path: Path):
    (tmp_path / "bad.jsonl").write_text('{"_id": "1", "text": "fine"}\n{"title": "no id"}\n', encoding="utf-8")
    (tmp_path / "ok.txt").write_text("Kept.\n", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    # only the bad line is skipped; the rest of the collection is kept (issue 14)
    assert [d.id for d in corpus.documents] == ["bad.jsonl#1", "ok.txt"]
    assert corpus.warnings == (CorpusWarning("bad.jsonl", 'not a {"_id", "title", "text"} record', 2),)
    assert str(corpus.warnings[0]) == 'skipped bad.jsonl line 2: not a {"_id", "title", "text"} record'


# ----------------------------------------------------------------------------- catalog and provenance


def test_catalog_gives_title_date_publisher_kind(tiny_corpus: Path):
    document = by_id(read_corpus(tiny_corpus))["a.txt"]
    assert (document.title, document.date, document.publisher, document.kind) == (
        "River festival",
        "2024-06-01",
        "City Hall",
        "government",
    )


def test_no_catalog_entry_means_first_line_title_and_no_invented_provenance(tiny_corpus: Path):
    docs = by_id(read_corpus(tiny_corpus))
    # b.txt starts with a navigation line shared with a.txt: the title skips it
    assert docs["b.txt"].title == "Signatories of the letter:"
    assert docs["c.md"].title == "Notes"
    for doc_id in ("b.txt", "c.md"):
        assert (docs[doc_id].date, docs[doc_id].publisher, docs[doc_id].kind, docs[doc_id].url) == (
            None,
            None,
            None,
            None,
        )


def test_seed_catalog_covers_every_seed():
    corpus = read_corpus(SEEDS)
    assert corpus.warnings == ()
    assert len(corpus.documents) == 5
    for document in corpus.documents:
        assert document.publisher and document.kind and document.title
    docs = by_id(corpus)
    gong = docs["000_64fb9a0533498b8d.txt"]
    assert gong.title == "Professor Gong Xianghe attends the 2025 Asian Human Rights Forum"
    assert gong.date == "2025-06-08"
    assert gong.publisher == "Human Rights Research Institute, Southeast University"
    # the seminar report and the open letter state no date: none is invented
    assert docs["002_c71cddd6e74d6b21.txt"].date is None
    assert docs["004_6fc4feaa17a14d90.txt"].date is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-06-01", "2024-06-01"), ("2024-06", "2024-06"), ("1999", "1999"), ("2024-06-01T00:00", None)],
)
def test_catalog_date_strings(tmp_path: Path, value: str, expected):
    path = tmp_path / "catalog.toml"
    path.write_text(f'["x.txt"]\ndate = "{value}"\n', encoding="utf-8")
    catalog, warnings = load_catalog(path)
    assert catalog["x.txt"].get("date") == expected
    assert bool(warnings) is (expected is None)


def test_catalog_native_toml_date(tmp_path: Path):
    path = tmp_path / "catalog.toml"
    path.write_text('["x.txt"]\ndate = 2020-02-29\n', encoding="utf-8")
    assert load_catalog(path) == ({"x.txt": {"date": "2020-02-29"}}, [])


def test_bad_catalog_values_warn_and_are_not_used(tmp_path: Path, caplog):
    (tmp_path / "x.txt").write_text("First line\nbody.\n", encoding="utf-8")
    (tmp_path / "catalog.toml").write_text(
        '["x.txt"]\ntitle = "Kept title"\ndate = "June 2024"\npublisher = ""\nauthor = "A. N. Other"\n'
        '["gone.txt"]\ntitle = "Nothing here"\n',
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="hrqa.corpus"):
        corpus = read_corpus(tmp_path)
    document = corpus.documents[0]
    assert (document.title, document.date, document.publisher) == ("Kept title", None, None)
    assert [str(w) for w in corpus.warnings] == [
        "skipped catalog.toml: entry 'x.txt': date 'June 2024' is not ISO (YYYY-MM-DD)",
        "skipped catalog.toml: entry 'x.txt': publisher must be a non-empty string",
        "skipped catalog.toml: entry 'x.txt': unknown field 'author'",
        "skipped catalog.toml: entry 'gone.txt' names no document in the corpus",
    ]
    assert "June 2024" in caplog.text


def test_invalid_toml_catalog_is_ignored_with_a_warning(tmp_path: Path):
    (tmp_path / "x.txt").write_text("Heading line\n", encoding="utf-8")
    (tmp_path / "catalog.toml").write_text("[x.txt\ntitle = ", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    assert corpus.documents[0].title == "Heading line"
    assert corpus.warnings[0].path == "catalog.toml"
    assert corpus.warnings[0].reason.startswith("catalog ignored, it is not valid TOML")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("\n\n  First   line  \nsecond", "First line"), ("", "fallback.txt"), ("x" * 130, "x" * 119 + "…")],
)
def test_first_line_title(text: str, expected: str):
    assert first_line_title(text, "fallback.txt") == expected


# ----------------------------------------------------------------------------- boilerplate


def test_boilerplate_lines_are_those_repeated_across_documents(tiny_corpus: Path):
    assert read_corpus(tiny_corpus).boilerplate == frozenset({"Menu Home About Contact Us"})


def test_find_boilerplate_ignores_short_and_single_document_lines():
    def doc(doc_id: str, text: str) -> Document:
        return Document(id=doc_id, text=text, sha256="0", title=doc_id)

    documents = [
        doc("a", "Share on facebook\n***\nOnly here, repeated.\nOnly here, repeated.\n"),
        doc("b", "  Share on facebook  \n***\nOther text.\n"),
    ]
    assert find_boilerplate(documents) == frozenset({"Share on facebook"})


def test_seed_boilerplate_is_the_site_furniture():
    boilerplate = read_corpus(SEEDS).boilerplate
    assert {
        "Share on facebook",
        "Share on twitter",
        "Share on linkedin",
        "Subscribe our monthly e-newsletter",
    } <= boilerplate
    # article text is not furniture
    assert not any("Gong Xianghe" in line or "CHRD" in line for line in boilerplate)


# ----------------------------------------------------------------------------- skipped files


def test_bad_files_are_skipped_with_a_warning_naming_each(tmp_path: Path, caplog):
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 au lait.\n".encode("latin-1"))
    (tmp_path / "binary.md").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\n", encoding="utf-8")
    (tmp_path / "slides.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "noext").write_text("text without a suffix", encoding="utf-8")
    (tmp_path / "big.txt").write_text("word " * 100, encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("dot files are not part of the corpus", encoding="utf-8")
    (tmp_path / "README.md").write_text("About this folder.", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "nested.txt").write_text("Nested document.\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="hrqa.corpus"):
        corpus = read_corpus(tmp_path, max_file_bytes=100)
    assert [d.id for d in corpus.documents] == ["good.txt", "sub/nested.txt"]
    reasons = {w.path: w.reason for w in corpus.warnings}
    assert reasons == {
        "big.txt": "500 bytes is over the size limit of 100 (setting max_file_bytes)",
        "binary.md": "binary content (NUL bytes) in a text file",
        "blank.txt": "no text in it",
        "empty.txt": "empty file",
        "latin1.txt": "not UTF-8 (byte 3); convert it with iconv -t utf-8",
        "noext": "unsupported file type (none); supported: .htm, .html, .jsonl, .md, .pdf, .txt",
        "slides.docx": "unsupported file type .docx; supported: .htm, .html, .jsonl, .md, .pdf, .txt",
    }
    for name in reasons:
        assert f"skipped {name}:" in caplog.text


def test_missing_corpus_folder_raises(tmp_path: Path):
    with pytest.raises(CorpusError, match=r"corpus folder .*nowhere does not exist; pass --corpus DIR"):
        read_corpus(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- hostile corpora (issue 14)


def test_a_symlink_to_a_file_outside_the_corpus_is_skipped_naming_it(tmp_path: Path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    (corpus / "kept.txt").write_text("A document inside the corpus.\n", encoding="utf-8")
    (corpus / "passwd_link.txt").symlink_to(secret)
    (corpus / "inside_link.txt").symlink_to(corpus / "kept.txt")  # a link that stays inside is read
    sub = corpus / "sub"
    sub.mkdir()
    (sub / "up.md").symlink_to(Path("..") / ".." / "secret.txt")
    (corpus / "catalog.toml").symlink_to(secret)
    with caplog.at_level(logging.WARNING, logger="hrqa.corpus"):
        result = read_corpus(corpus)
    assert [d.id for d in result.documents] == ["inside_link.txt", "kept.txt"]
    assert all("root:x" not in d.text for d in result.documents)
    outside = "a symbolic link to a file outside the corpus folder"
    assert {w.path: w.reason for w in result.warnings} == {
        "catalog.toml": outside,
        "passwd_link.txt": outside,
        "sub/up.md": outside,
    }
    assert "skipped passwd_link.txt: a symbolic link to a file outside the corpus folder" in caplog.text
    # the staleness fingerprint never reads it either
    from hrqa.store import corpus_fingerprint

    assert sorted(corpus_fingerprint(corpus)) == ["inside_link.txt", "kept.txt"]


def _collection(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "coll.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_a_duplicate_jsonl_id_is_refused_naming_the_file_and_the_id(tmp_path: Path):
    lines = [
        json.dumps({"_id": "7", "text": "The first record seven."}),
        json.dumps({"_id": "8", "text": "Record eight."}),
        json.dumps({"_id": 7, "text": "A second record seven, much longer than the first one."}),
    ]
    corpus = read_corpus(_collection(tmp_path, lines))
    docs = by_id(corpus)
    assert sorted(docs) == ["coll.jsonl#7", "coll.jsonl#8"]
    assert docs["coll.jsonl#7"].text == "The first record seven."  # the first one is kept, whole
    assert [str(w) for w in corpus.warnings] == [
        "skipped coll.jsonl line 3: duplicate _id '7' (first on line 1); give each record its own _id"
    ]


def test_a_malformed_jsonl_line_is_skipped_and_the_rest_kept(tmp_path: Path):
    lines = [
        json.dumps({"_id": "a", "text": "Alpha record."}),
        '{"_id": "b", "text": "truncated',
        "[1, 2, 3]",
        json.dumps({"_id": None, "text": "No id."}),
        json.dumps({"_id": "c", "text": "Gamma record."}),
    ]
    corpus = read_corpus(_collection(tmp_path, lines))
    assert sorted(by_id(corpus)) == ["coll.jsonl#a", "coll.jsonl#c"]
    assert [(w.path, w.line) for w in corpus.warnings] == [("coll.jsonl", 2), ("coll.jsonl", 3), ("coll.jsonl", 4)]
    assert str(corpus.warnings[0]) == 'skipped coll.jsonl line 2: not a {"_id", "title", "text"} record'
    assert str(corpus.warnings[2]) == "skipped coll.jsonl line 4: _id None is not a string or number"


@pytest.mark.parametrize(
    "text, reason",
    [
        (42, "record 'x': its text is a int, not a string"),
        (["a", "b"], "record 'x': its text is a list, not a string"),
        (None, "record 'x': its text is a NoneType, not a string"),
        ("", "record 'x': its text is empty"),
        (" \n\t", "record 'x': its text is empty"),
    ],
)
def test_a_jsonl_record_without_text_is_warned_about(tmp_path: Path, text, reason: str):
    lines = [json.dumps({"_id": "x", "text": text}), json.dumps({"_id": "y", "text": "Kept."})]
    corpus = read_corpus(_collection(tmp_path, lines))
    assert sorted(by_id(corpus)) == ["coll.jsonl#y"]
    assert corpus.warnings == (CorpusWarning("coll.jsonl", reason, 1),)


def test_pypdf_messages_name_the_file(tmp_path: Path, caplog):
    data = make_pdf([["The harbour report, page one."]])
    damaged = data[: data.rfind(b"startxref")] + b"startxref\n9999\n%%EOF\n"  # a wrong xref pointer
    (tmp_path / "harbour.pdf").write_bytes(damaged)
    with caplog.at_level(logging.WARNING):
        corpus = read_corpus(tmp_path)
    assert "harbour report" in by_id(corpus)["harbour.pdf"].text
    (warning,) = corpus.warnings
    assert warning.path == "harbour.pdf" and not warning.skipped
    assert str(warning).startswith("harbour.pdf: pypdf: incorrect startxref pointer")
    # no anonymous pypdf line reaches the log
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_file_names_with_escape_codes_and_newlines_are_shown_escaped(tmp_path: Path):
    (tmp_path / "red\x1b[31m\nname.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "ok.txt").write_text("Fine.\n", encoding="utf-8")
    corpus = read_corpus(tmp_path)
    (warning,) = corpus.warnings
    assert warning.path == "red\x1b[31m\nname.docx"  # the record keeps the real name
    assert str(warning).startswith("skipped red\\x1b[31m\\nname.docx: unsupported file type .docx")
    assert str(warning).isprintable()
