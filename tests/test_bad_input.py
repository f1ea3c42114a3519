"""Bad input gets a clear message, nothing is lost, no traceback (issue 5, "Bad input").

Questions, corpus files and document ids, through the library (fast fake embedder) and through the
``hrqa`` command (its own process: a one-line error and a non-zero exit). Index files: see
test_index_integrity.py.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest

from hrqa import corpus as corpus_module
from hrqa.embedding import HashingEmbedder
from hrqa.engine import Engine
from hrqa.errors import CorpusError, DocumentNotFoundError, HrqaError, QuestionError
from hrqa.settings import Settings
from hrqa.store import build_index
from tests.helpers import make_pdf

# ----------------------------------------------------------------------------- helpers


def one_page_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is ``text``."""
    return make_pdf([[text]])


def encrypted_pdf(text: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(one_page_pdf(text))))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


GOOD_FILES = {
    "river.txt": "The river festival was held in Lyon.\nIt lasted three\ndays in June.\n",
    "owls.md": "# Owls\n\nOwls hunt at night. Larks sing at dawn.\n",
    "page.html": "<html><head><title>x</title></head><body><p>The council met on Tuesday.</p></body></html>",
    "interview.txt": (
        "Forum report\n\nProfessor Gong Xianghe attended the forum in June.\nHe was interviewed by "
        "the Global Times and China News Network.\n\nThe forum closed with a joint statement.\n"
    ),
}
GOOD_PDF = ("minutes.pdf", "The committee met in Geneva on Monday.")

#: name -> (bytes, what the warning must say about it)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "latin1.txt": ("Café au lait, s'il vous plaît.\n".encode("latin-1"), "not UTF-8"),
    "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary content"),
    "corrupt.pdf": (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R >>\ngarbage\x00\xff", "unreadable PDF"),
    "locked.pdf": (b"", "encrypted PDF"),  # bytes made in the fixture (pypdf's writer)
    "empty.txt": (b"", "empty file"),
    "huge.txt": (b"A sentence that repeats. " * 400, "over the size limit of 5000 (setting max_file_bytes)"),
    "report.docx": (b"PK\x03\x04 not really a docx", "unsupported file type .docx"),
}
#: a size limit below huge.txt (10,000 bytes) and above every good file
MAX_FILE_BYTES = 5000

BAD_CATALOG = """\
["river.txt"]
title = "River festival"
date = "2024-13-45"
colour = "blue"
publisher = "City Hall"

["nowhere.txt"]
title = "A document that is not in the folder"
"""


def write_mixed_corpus(folder: Path) -> Path:
    """Good documents of every kind, every kind of bad file, and a catalog with broken entries."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in GOOD_FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / GOOD_PDF[0]).write_bytes(one_page_pdf(GOOD_PDF[1]))
    for name, (data, _) in BAD_FILES.items():
        (folder / name).write_bytes(encrypted_pdf("Secret minutes.") if name == "locked.pdf" else data)
    (folder / "catalog.toml").write_text(BAD_CATALOG, encoding="utf-8")
    return folder


GOOD_IDS = sorted([*GOOD_FILES, GOOD_PDF[0]])


@pytest.fixture(scope="module")
def hashing_engine(tmp_path_factory) -> Engine:
    """A fake-embedder engine over a small corpus in English, Arabic, Hebrew and Chinese."""
    folder = tmp_path_factory.mktemp("questions") / "corpus"
    folder.mkdir()
    (folder / "festival.txt").write_text(
        "The river festival was held in Lyon.\nIt lasted three days in June.\n\nThe mayor opened it.\n",
        encoding="utf-8",
    )
    (folder / "arabic.txt").write_text("وقعت المنظمات على الرسالة المفتوحة في جنيف.\n", encoding="utf-8")
    (folder / "hebrew.txt").write_text("הארגונים חתמו על המכתב הפתוח בז'נבה.\n", encoding="utf-8")
    (folder / "chinese.txt").write_text("论坛在北京举行。 教授接受了采访。\n", encoding="utf-8")
    settings = Settings(corpus_dir=folder, index_dir=folder.parent / "index")
    return Engine.open(settings, embedder=HashingEmbedder(), build="missing")


def assert_clean_answer(engine: Engine, answer) -> None:
    """An answer (or abstention) whose every quote is the exact text at its offsets."""
    index = engine.index
    assert answer.index_id == index.id
    for sentence in answer.sentences:
        assert sentence.text == index.documents[sentence.doc].text[sentence.span.start : sentence.span.end]
    for citation in answer.citations:
        assert citation.passage == index.documents[citation.doc].text[citation.span.start : citation.span.end]


# ----------------------------------------------------------------------------- questions (library)


@pytest.mark.parametrize("question", ["", " ", "   \t\n  ", "\u00a0\u3000", "\x00\x01\x07", "\u200b\u200e\u202e"])
def test_empty_or_blank_question_is_refused(hashing_engine: Engine, question: str) -> None:
    with pytest.raises(QuestionError, match="the question is empty"):
        hashing_engine.ask(question)


def test_question_over_the_limit_is_refused_naming_it(hashing_engine: Engine) -> None:
    limit = hashing_engine.settings.max_question_chars
    hashing_engine.ask("river " * (limit // 6))  # just under the limit: answered
    with pytest.raises(QuestionError, match=f"over the limit of {limit} \\(setting max_question_chars\\)"):
        hashing_engine.ask("x" * (limit + 1))
    with pytest.raises(QuestionError, match=f"limit of {limit}"):
        hashing_engine.ask("why " * 1_000_000)  # a huge paste is refused before it is cleaned


def test_the_limit_is_a_setting(hashing_engine: Engine) -> None:
    engine = Engine(hashing_engine.settings.with_(max_question_chars=10), hashing_engine.embedder, hashing_engine.index)
    with pytest.raises(QuestionError, match="over the limit of 10"):
        engine.ask("Where was the festival?")


@pytest.mark.parametrize(
    "question",
    [
        "Where was the \x00river\x07 festival\x1b[31m held?",
        "Where was the river festival held? 🎉🎆👍🏽",
        "🎉🎆👍🏽",
        "أين وقعت المنظمات على الرسالة المفتوحة؟",
        "איפה חתמו הארגונים על המכתב?",
        "\u202eWhere was the festival?\u202c",
        "论坛在哪里举行？",
        "教授接受了谁的采访",
        "Ｗｈｅｒｅ ｗａｓ ｔｈｅ ｆｅｓｔｉｖａｌ？",
        "e\u0301\u0301\u0301 \ufeff \U0001f600 \ud800 \U0010ffff",
    ],
    ids=[
        "control",
        "emoji",
        "only-emoji",
        "arabic",
        "hebrew",
        "rtl-override",
        "cjk",
        "cjk-no-mark",
        "fullwidth",
        "combining-surrogate",
    ],
)
def test_unusual_questions_are_answered_or_refused_cleanly(hashing_engine: Engine, question: str) -> None:
    try:
        answer = hashing_engine.ask(question)
    except HrqaError as error:  # refusing is fine, with a message
        assert str(error)
        return
    assert_clean_answer(hashing_engine, answer)
    assert "\x00" not in answer.question and "\x1b" not in answer.question


def test_control_characters_do_not_change_the_answer(hashing_engine: Engine) -> None:
    clean = hashing_engine.ask("Where was the river festival held?")
    noisy = hashing_engine.ask("Where\x00 was the\t\triver festival\x07 held?\r\n")
    assert noisy.question == clean.question
    assert [s.span for s in noisy.sentences] == [s.span for s in clean.sentences]
    assert any("Lyon" in s.text for s in clean.sentences)


def test_a_right_to_left_question_finds_its_document(hashing_engine: Engine) -> None:
    hits = hashing_engine.search("وقعت المنظمات على الرسالة", k=1)
    assert hits[0].passage.doc == "arabic.txt"


@pytest.fixture(scope="module")
def real_mixed_engine(cli_index) -> Engine:
    """The real model, in this process, over the index `hrqa index` built in ``cli_index``."""
    root, result = cli_index
    assert result.returncode == 0, result.stderr
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", max_file_bytes=MAX_FILE_BYTES)
    return Engine.open(settings)


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Which two media outlets interviewed\x00 Professor Gong Xianghe?\x07",
        "Which two media outlets interviewed Professor Gong Xianghe? 🎤📰",
        "من هو البروفيسور غونغ شيانغخه؟",
        "מי ראיין את פרופסור גונג שיאנגחה?",
        "哪两家媒体采访了龚向和教授？",
        "🎤📰🤔",
    ],
    ids=["control", "emoji", "arabic", "hebrew", "cjk", "only-emoji"],
)
def test_unusual_questions_with_the_real_model(real_mixed_engine: Engine, question: str) -> None:
    try:
        answer = real_mixed_engine.ask(question)
    except HrqaError as error:
        assert str(error)
        return
    assert_clean_answer(real_mixed_engine, answer)
    if question.startswith("Which two media outlets"):  # the noise does not change the answer
        clean = real_mixed_engine.ask("Which two media outlets interviewed Professor Gong Xianghe?")
        assert not answer.abstained and answer.citations[0].doc == "interview.txt"
        if "\x00" in question:  # control characters are dropped: exactly the clean question's answer
            assert [s.span for s in answer.sentences] == [s.span for s in clean.sentences]


# ----------------------------------------------------------------------------- corpus (library)


def test_every_bad_file_is_skipped_with_a_warning_naming_it(tmp_path: Path) -> None:
    folder = write_mixed_corpus(tmp_path / "corpus")
    result = corpus_module.read_corpus(folder, max_file_bytes=MAX_FILE_BYTES)
    assert sorted(d.id for d in result.documents) == GOOD_IDS
    by_file = {}
    for warning in result.warnings:
        by_file.setdefault(warning.path, []).append(str(warning))
    for name, (_, reason) in BAD_FILES.items():
        assert len(by_file.get(name, [])) == 1, (name, result.warnings)
        assert name in by_file[name][0] and reason in by_file[name][0], by_file[name]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_one_bad_file_among_good_ones(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "river.txt").write_text(GOOD_FILES["river.txt"], encoding="utf-8")
    data, reason = BAD_FILES[name]
    (folder / name).write_bytes(encrypted_pdf("Secret.") if name == "locked.pdf" else data)
    settings = Settings(corpus_dir=folder, index_dir=tmp_path / "index", max_file_bytes=MAX_FILE_BYTES)
    report = build_index(settings, HashingEmbedder())
    assert report.documents == 1 and report.added == ("river.txt",)
    assert [w for w in report.warnings if name in w] == [f"skipped {name}: " + _reason_of(report, name)]
    assert reason in _reason_of(report, name)
    engine = Engine.open(settings, embedder=HashingEmbedder())
    assert list(engine.index.documents) == ["river.txt"]


def _reason_of(report, name: str) -> str:
    return next(w for w in report.warnings if w.startswith(f"skipped {name}: ")).split(": ", 1)[1]


def test_the_good_pdf_is_read(tmp_path: Path) -> None:
    folder = write_mixed_corpus(tmp_path / "corpus")
    result = corpus_module.read_corpus(folder, max_file_bytes=MAX_FILE_BYTES)
    pdf = next(d for d in result.documents if d.id == GOOD_PDF[0])
    assert GOOD_PDF[1] in pdf.text


def test_damaged_pdfs_never_break_reading(tmp_path: Path) -> None:
    """Random damage to a valid PDF: each copy is read or skipped with a warning, never an exception."""
    good = one_page_pdf("The committee met in Geneva on Monday.")
    rng = random.Random(5)
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "river.txt").write_text(GOOD_FILES["river.txt"], encoding="utf-8")
    for number in range(150):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(damaged))
            action = rng.random()
            if action < 0.5:
                damaged[at] = rng.randrange(256)
            elif action < 0.8:
                del damaged[at : at + rng.randint(1, 20)]
            else:
                damaged[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 10)))
        if number % 5 == 0:
            damaged = damaged[: rng.randrange(1, len(damaged))]
        (folder / "damaged.pdf").write_bytes(bytes(damaged))
        result = corpus_module.read_corpus(folder)
        assert "river.txt" in {d.id for d in result.documents}
        read = "damaged.pdf" in {d.id for d in result.documents}
        # a read file may also carry pypdf's complaints (issue 14); a skipped one always says why
        warned = [w for w in result.warnings if w.path == "damaged.pdf" and w.skipped]
        assert read != bool(warned), (number, warned)


def test_a_file_that_cannot_be_read_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "river.txt").write_text(GOOD_FILES["river.txt"], encoding="utf-8")
    (folder / "gone.txt").write_text("Deleted while the folder was read.\n", encoding="utf-8")
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "gone.txt":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    result = corpus_module.read_corpus(folder)
    assert [d.id for d in result.documents] == ["river.txt"]
    assert [str(w) for w in result.warnings] == ["skipped gone.txt: cannot be read (Permission denied)"]


def test_broken_catalog_entries_are_reported_and_the_rest_is_used(tmp_path: Path) -> None:
    folder = write_mixed_corpus(tmp_path / "corpus")
    result = corpus_module.read_corpus(folder, max_file_bytes=MAX_FILE_BYTES)
    catalog_warnings = [str(w) for w in result.warnings if w.path == "catalog.toml"]
    assert any("'river.txt'" in w and "date '2024-13-45' is not ISO" in w for w in catalog_warnings)
    assert any("'river.txt'" in w and "unknown field 'colour'" in w for w in catalog_warnings)
    assert any("'nowhere.txt' names no document" in w for w in catalog_warnings)
    river = next(d for d in result.documents if d.id == "river.txt")
    # the good fields of the entry are kept; the bad date is dropped, never guessed
    assert (river.title, river.publisher, river.date) == ("River festival", "City Hall", None)


@pytest.mark.parametrize(
    "catalog, warning",
    [
        ('["river.txt"\ntitle = "unclosed', "catalog ignored, it is not valid TOML"),
        ('"river.txt" = "not a table"\n', "entry 'river.txt' is not a table"),
        ('["river.txt"]\ntitle = 7\n', "entry 'river.txt': title must be a non-empty string"),
        ('["river.txt"]\ndate = "June 2024"\n', "entry 'river.txt': date 'June 2024' is not ISO"),
        (b"\xff\xfe bad bytes", "catalog ignored, it is not valid TOML"),
    ],
    ids=["bad-toml", "not-a-table", "bad-type", "bad-date", "not-utf8"],
)
def test_a_broken_catalog_never_stops_the_build(tmp_path: Path, catalog, warning: str) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "river.txt").write_text(GOOD_FILES["river.txt"], encoding="utf-8")
    if isinstance(catalog, bytes):
        (folder / "catalog.toml").write_bytes(catalog)
    else:
        (folder / "catalog.toml").write_text(catalog, encoding="utf-8")
    report = build_index(Settings(corpus_dir=folder, index_dir=tmp_path / "index"), HashingEmbedder())
    assert report.documents == 1
    assert any(w.startswith("skipped catalog.toml: ") and warning in w for w in report.warnings), report.warnings
    document = Engine.open(
        Settings(corpus_dir=folder, index_dir=tmp_path / "index"), embedder=HashingEmbedder()
    ).document("river.txt")
    assert document.date is None  # nothing invented


def test_an_empty_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match=r"no documents to index in .*corpus; add .*\.txt files"):
        build_index(settings, HashingEmbedder())
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_a_folder_of_only_bad_files_names_them(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("empty.txt", "latin1.txt", "report.docx", "image.txt"):
        (folder / name).write_bytes(BAD_FILES[name][0])
    settings = Settings(corpus_dir=folder, index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match=r"no documents to index .*skipped empty.txt: empty file.* and 1 more"):
        build_index(settings, HashingEmbedder())


def test_a_missing_corpus_folder_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "nowhere", index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match="corpus folder .*nowhere does not exist; pass --corpus DIR"):
        build_index(settings, HashingEmbedder())


# ----------------------------------------------------------------------------- document view


@pytest.mark.parametrize(
    "doc_id",
    [
        "../etc/passwd",
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "festival.txt/../festival.txt",
        "./festival.txt",
        "festival.txt\x00",
        "FESTIVAL.TXT",
        "unknown.txt",
        "festival.txt#1",
        "",
        "..",
        "/",
        "%2e%2e%2fetc%2fpasswd",
        "..\\..\\windows\\win.ini",
    ],
)
def test_only_indexed_document_ids_are_served(hashing_engine: Engine, doc_id: str) -> None:
    with pytest.raises(DocumentNotFoundError, match="no indexed document"):
        hashing_engine.document(doc_id)


def test_an_absolute_path_to_a_corpus_file_is_refused(hashing_engine: Engine) -> None:
    absolute = (hashing_engine.settings.corpus_dir / "festival.txt").resolve()
    assert absolute.exists()
    for doc_id in (str(absolute), absolute.as_uri()):
        with pytest.raises(DocumentNotFoundError, match=re.escape(repr(doc_id))):
            hashing_engine.document(doc_id)


@pytest.mark.parametrize("doc_id", [None, 7, ["festival.txt"], b"festival.txt"])
def test_a_document_id_that_is_not_text_is_refused(hashing_engine: Engine, doc_id) -> None:
    with pytest.raises(DocumentNotFoundError):
        hashing_engine.document(doc_id)


def test_an_indexed_document_is_served(hashing_engine: Engine) -> None:
    document = hashing_engine.document("festival.txt")
    assert document.text.startswith("The river festival")


# ----------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, hrqa_cli):
    """`hrqa index` (real model) over the mixed corpus: the run, and the folder to ask questions in."""
    root = tmp_path_factory.mktemp("cli")
    write_mixed_corpus(root / "corpus")
    result = hrqa_cli(
        "index",
        "--corpus",
        "corpus",
        "--index-dir",
        "index",
        cwd=root,
        env={"HRQA_MAX_FILE_BYTES": str(MAX_FILE_BYTES)},
    )
    return root, result


@pytest.mark.slow
def test_cli_index_skips_bad_files_naming_each_and_indexes_the_rest(cli_index) -> None:
    _, result = cli_index
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "index " in result.stdout and f"{len(GOOD_IDS)} documents" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    for name, (_, reason) in BAD_FILES.items():
        assert f"warning: skipped {name}: " in result.stderr and reason in result.stderr, name
        assert len([w for w in warnings if f"skipped {name}:" in w]) == 1, warnings
    assert "unknown field 'colour'" in result.stderr and "date '2024-13-45' is not ISO" in result.stderr
    for name in GOOD_IDS:
        assert name in result.stdout  # the summary lists what was added


def _ask(hrqa_cli, cli_index, *args, **kwargs):
    root, _ = cli_index
    return hrqa_cli(
        "ask",
        "--corpus",
        "corpus",
        "--index-dir",
        "index",
        *args,
        cwd=root,
        env={"HRQA_MAX_FILE_BYTES": str(MAX_FILE_BYTES)},
        **kwargs,
    )


@pytest.mark.slow
@pytest.mark.parametrize("question", ["", "   ", "\t\u00a0", "\x01\x02"], ids=["empty", "spaces", "blank", "control"])
def test_cli_refuses_an_empty_question(hrqa_cli, cli_index, question: str) -> None:
    result = _ask(hrqa_cli, cli_index, question)
    assert result.returncode == 2
    hrqa_cli.error(result, "the question is empty")
    assert result.stderr.count("\n") == 1  # one line, nothing else


@pytest.mark.slow
def test_cli_refuses_a_question_over_the_limit(hrqa_cli, cli_index) -> None:
    result = _ask(hrqa_cli, cli_index, "why " * 600)
    assert result.returncode == 2
    hrqa_cli.error(result, "over the limit of 2000", "max_question_chars")
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_cli_json_stream_reports_bad_questions_per_line(hrqa_cli, cli_index) -> None:
    import json

    result = _ask(hrqa_cli, cli_index, "--json", input="\x01\x02\n" + "x" * 2001 + "\n")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["error"].split(";")[0] for line in lines] == [
        "the question is empty",
        "the question has 2001 characters, over the limit of 2000 (setting max_question_chars)",
    ]


@pytest.mark.slow
def test_cli_index_of_an_empty_folder(hrqa_cli, tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    result = hrqa_cli("index", "--corpus", "corpus", "--index-dir", "index", cwd=tmp_path)
    assert result.returncode == 2
    hrqa_cli.error(result, "no documents to index in corpus", "--corpus DIR")


@pytest.mark.slow
def test_cli_index_of_a_missing_folder(hrqa_cli, tmp_path: Path) -> None:
    result = hrqa_cli("index", "--corpus", "nowhere", "--index-dir", "index", cwd=tmp_path)
    assert result.returncode == 2
    hrqa_cli.error(result, "corpus folder nowhere does not exist")
    assert result.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- malformed arguments (issue 14)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 1.5}, "k must be a whole number from 1 to 50, not 1.5"),
        ({"k": "5"}, "k must be a whole number from 1 to 50, not '5'"),
        ({"k": True}, "k must be a whole number from 1 to 50, not True"),
        ({"k": -1}, "k must be a whole number from 1 to 50, not -1"),
        ({"k": 10**9}, "k must be a whole number from 1 to 50, not 1000000000"),
        ({"history": [None, 5]}, "history item 1 must be text, not None"),
        ({"history": ["fine", 5]}, "history item 2 must be text, not 5"),
        ({"history": "Where was the festival?"}, "history must be a list of earlier questions, not a single string"),
        ({"history": {"q": 1}}, "history must be a list of earlier questions, not dict"),
        ({"history": ["x" * 20_001]}, "history item 1 has 20001 characters, over the limit of 20000"),
        ({"docs": "festival.txt"}, "docs must be a list of document ids, not a single string"),
        ({"docs": [["festival.txt"]]}, "docs item 1 must be text, not ['festival.txt']"),
        ({"kinds": [["NGO"]]}, "kinds item 1 must be text, not ['NGO']"),
        ({"kinds": "NGO"}, "kinds must be a list of kinds of source, not a single string"),
        ({"kinds": ["NGO"]}, "no indexed document is of kind 'NGO'; the kinds are: unknown"),
    ],
)
def test_each_malformed_argument_is_a_clear_one_line_error(hashing_engine: Engine, arguments, message: str) -> None:
    with pytest.raises(QuestionError) as caught:
        hashing_engine.ask("Where was the festival?", **arguments)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_an_unknown_document_id_names_the_missing_document(hashing_engine: Engine) -> None:
    with pytest.raises(DocumentNotFoundError, match=r"no indexed document 'nowhere\.txt'; a document id is its path"):
        hashing_engine.ask("Where was the festival?", docs=["festival.txt", "nowhere.txt"])


def test_an_over_long_history_item_is_reported_as_history(hashing_engine: Engine) -> None:
    limit = 10 * hashing_engine.settings.max_question_chars
    with pytest.raises(QuestionError) as caught:
        hashing_engine.ask("And then?", history=["Where?", "y" * (limit + 5)])
    assert str(caught.value).startswith(f"history item 2 has {limit + 5} characters")
    assert "the question has" not in str(caught.value)


@pytest.mark.parametrize("question", ["\u200d" * 50, "\u200d \u200d\u200b", "\u2060\u200d\ufeff"])
def test_a_question_of_only_invisible_characters_is_refused(hashing_engine: Engine, question: str) -> None:
    with pytest.raises(QuestionError, match=r"the question is empty \(only invisible characters\)"):
        hashing_engine.ask(question)


def test_an_emoji_sequence_joined_by_u200d_is_still_a_question(hashing_engine: Engine) -> None:
    from hrqa.engine import clean_question

    assert clean_question("👩\u200d🔬 where?", 100) == "👩\u200d🔬 where?"


# ----------------------------------------------------------------------------- capped quotes (issue 14)


def test_a_megabyte_line_is_quoted_in_capped_pieces_that_say_so(tmp_path: Path) -> None:
    """A 1 MB single-line file: no sentence, passage or citation longer than max_sentence_chars, each
    quote exactly document.text[start:end] of its (shortened) span, and each piece marked cut."""
    import random

    from hrqa.records import Span

    rng = random.Random(3)
    words = ["river", "festival", "lyon", "mayor", "june", "boat", "lantern", "bridge", "music", "crowd"]
    line = " ".join(rng.choice(words) for _ in range(170_000))
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "dump.txt").write_text(line + "\n", encoding="utf-8")
    (folder / "short.txt").write_text("The mayor opened the festival. It rained.\n", encoding="utf-8")
    settings = Settings(corpus_dir=folder, index_dir=tmp_path / "index", max_sentence_chars=2000)
    engine = Engine.open(settings, embedder=HashingEmbedder(), build="missing")
    index = engine.index
    text = index.documents["dump.txt"].text
    pieces = [s for s in index.sentences if s.doc == "dump.txt"]
    assert len(pieces) >= len(line) // 2000
    assert all(0 < s.span.end - s.span.start <= 2000 and index.is_cut("dump.txt", s.span) for s in pieces)
    assert not any(index.is_cut("short.txt", s.span) for s in index.sentences if s.doc == "short.txt")
    assert all(p.span.end - p.span.start <= 2000 for p in index.passages)
    # what the CLI and the API return: every quote is its span's text, and the cut ones say so
    hits = engine.search("lantern bridge music", k=5)
    sentence = next(s for s in pieces if s.span.start >= hits[0].passage.span.start)
    result = index.mark_cut(
        {
            "answer": [{"doc": "dump.txt", "start": sentence.span.start, "end": sentence.span.end}],
            "citations": [
                {"doc": h.passage.doc, "start": h.passage.span.start, "end": h.passage.span.end} for h in hits
            ],
        }
    )
    assert result["answer"][0]["cut"] is True
    for citation in result["citations"]:
        quoted = index.text(citation["doc"], Span(citation["start"], citation["end"]))
        assert quoted == text[citation["start"] : citation["end"]] if citation["doc"] == "dump.txt" else quoted
        assert citation.get("cut", False) is (citation["doc"] == "dump.txt")
    report_warnings = store_build_warnings(settings)
    assert any(w.startswith("dump.txt: ") and "max_sentence_chars" in w for w in report_warnings)


def store_build_warnings(settings: Settings) -> tuple[str, ...]:
    (settings.corpus_dir / "touch.txt").write_text("A new short document.\n", encoding="utf-8")
    return build_index(settings, HashingEmbedder()).warnings


def test_an_answer_from_a_megabyte_line_is_capped_end_to_end(tmp_path: Path) -> None:
    """Through Engine.ask: the JSON of an answer drawn from a 1 MB line stays small and exact."""
    import json

    from hrqa.errors import ModelError

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "dump.txt").write_text("the river festival lantern " * 40_000 + "\n", encoding="utf-8")
    settings = Settings(corpus_dir=folder, index_dir=tmp_path / "index")
    engine = Engine.open(settings, embedder=HashingEmbedder(), build="missing")
    try:
        answer = engine.ask("river festival lantern")
    except ModelError as error:  # the answer step's model is not in this checkout
        pytest.skip(str(error))
    result = engine.index.mark_cut(answer.to_json())
    assert len(json.dumps(result)) < 40 * settings.max_sentence_chars
    text = engine.index.documents["dump.txt"].text
    for item in [*result["answer"], *result["citations"]]:
        assert item["end"] - item["start"] <= settings.max_sentence_chars
        assert item["cut"] is True
    for sentence in result["answer"]:
        assert sentence["text"] == text[sentence["start"] : sentence["end"]]
    for citation in result["citations"]:
        assert citation["passage"] == text[citation["start"] : citation["end"]]


# ----------------------------------------------------------------------------- CLI hygiene (issue 14)

HOSTILE_NAME = "red\x1b[31mname\n.txt"


@pytest.fixture(scope="module")
def hostile_cli_index(tmp_path_factory, hrqa_cli):
    """`hrqa index` (real model) over a corpus with an escape code and a newline in file names and many
    mentions of one word."""
    root = tmp_path_factory.mktemp("cli-hygiene")
    corpus = root / "corpus"
    corpus.mkdir()
    # 6,000 mentions: far more output than a pipe buffers (64 KB), so `| head -3` closes it mid-write
    (corpus / "rivers.txt").write_text("The river " * 6000 + "ends.\n", encoding="utf-8")
    (corpus / HOSTILE_NAME).write_text("The river festival was held in Lyon.\n", encoding="utf-8")
    (corpus / "evil\x1b[2J.docx").write_bytes(b"PK\x03\x04")
    result = hrqa_cli("index", "--corpus", "corpus", "--index-dir", "index", cwd=root)
    assert result.returncode == 0, result.stderr
    return root, result


@pytest.mark.slow
def test_cli_prints_file_names_with_escape_codes_escaped(hostile_cli_index, hrqa_cli) -> None:
    root, result = hostile_cli_index
    for output in (result.stdout, result.stderr):
        assert "\x1b" not in output
    assert "warning: skipped evil\\x1b[2J.docx: unsupported file type .docx" in result.stderr
    assert "red\\x1b[31mname\\n.txt" in result.stdout
    found = hrqa_cli("find", "--corpus", "corpus", "--index-dir", "index", "festival", cwd=root)
    assert found.returncode == 0 and "\x1b" not in found.stdout
    assert "red\\x1b[31mname\\n.txt:" in found.stdout


@pytest.mark.slow
def test_cli_find_into_head_ends_without_a_traceback(hostile_cli_index) -> None:
    import os
    import shlex
    import subprocess
    import sys

    root, _ = hostile_cli_index
    command = " ".join(
        shlex.quote(part)
        for part in [sys.executable, "-m", "hrqa.cli", "find", "--corpus", "corpus", "--index-dir", "index", "river"]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    result = subprocess.run(
        f"{command} --limit 100000 | head -3",
        shell=True,
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert len(result.stdout.splitlines()) == 3
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.stderr == ""
