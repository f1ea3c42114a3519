"""Property tests (hypothesis, issue 5): random questions never crash the query path; random documents
always chunk into sentences and passages whose offsets map back to the exact text.

1,100 examples in all: 500 questions, 500 documents through the chunker, 100 through the file reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hrqa import chunking, corpus
from hrqa.embedding import HashingEmbedder
from hrqa.engine import Engine
from hrqa.errors import HrqaError
from hrqa.records import Document
from hrqa.settings import Settings

CHUNKING = Settings().chunking
#: no example database: the runs stay reproducible and write nothing into the work tree
PROPERTY = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow]}

# ----------------------------------------------------------------------------- strategies

#: white space a document may hold: wrapped lines, blank-line runs, tabs, no-break and ideographic
#: spaces, CRLF and the rarer line ends str.splitlines knows
SPACE = st.sampled_from(
    [
        " ",
        " ",
        " ",
        "  ",
        "\t",
        "\u00a0",
        "\u3000",
        "\u2009",
        "\n",
        "\n",
        "\r\n",
        "\n\n",
        "\n\n\n\n",
        " \n",
        "\n  ",
        "\t\n",
        "\x0c",
        "\x0b",
        "\x1c",
        "\x85",
        "\u2028",
        "\u2029",
    ]
)
WORD = st.one_of(
    st.sampled_from(
        [
            "The",
            "river",
            "festival",
            "Mr.",
            "Dr.",
            "e.g.",
            "U.S.",
            "No.",
            "1.",
            "3)",
            "(a)",
            "vs.",
            "Lyon",
            "June",
            "2024",
            "«quoted»",
            "“smart”",
            "—",
            "...",
            "?!",
            "http://x.org/a.b",
            "l'été",
            "中国",
            "人权。",
            "حقوق",
            "זכויות",
            "😀",
            "e\u0301",
            "\u200b",
            "\ufeff",
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=10),
)
END = st.sampled_from([".", ".", "?", "!", ":", ";", "", "…", "。", "！", '."', ".)"])


@st.composite
def sentence(draw) -> str:
    words = draw(st.lists(WORD, min_size=1, max_size=14))
    spaces = draw(st.lists(SPACE, min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, spaces)).rstrip(" ")
    return text + draw(END)


@st.composite
def list_item(draw) -> str:
    marker = draw(st.sampled_from(["1. ", "12) ", "- ", "* ", "• ", "– ", "  3. ", "\t- ", "- 4. ", "\u00a07. "]))
    return marker + draw(sentence())


@st.composite
def document_text(draw) -> str:
    """Paragraphs of wrapped prose, headings, numbered and bulleted lists, with odd white space."""
    pieces: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["paragraph", "heading", "list", "noise"]))
        if kind == "paragraph":
            pieces.append(draw(SPACE).join(draw(st.lists(sentence(), min_size=1, max_size=5))))
        elif kind == "heading":
            pieces.append(draw(st.sampled_from(["# ", "", "  "])) + draw(sentence()).rstrip(".!?"))
        elif kind == "list":
            pieces.append("\n".join(draw(st.lists(list_item(), min_size=1, max_size=6))))
        else:
            pieces.append(draw(st.text(max_size=40)))
        pieces.append(draw(st.sampled_from(["\n\n", "\n", "\r\n\r\n", "\n \n", "\n\t\n\n", "\n\u00a0\n", ""])))
    return "".join(pieces)


# ----------------------------------------------------------------------------- the checks


def check_chunks(text: str, boilerplate: frozenset[str] = frozenset()) -> None:
    """Every unit and passage maps back to the exact text, in order, and passages cover every unit."""
    document = Document(id="doc.txt", text=text, sha256="0" * 64, title="t")
    units = chunking.split_units(text, boilerplate)
    sentences, passages = chunking.chunk_document(document, boilerplate, CHUNKING)
    assert [s.span for s in sentences] == [u.span for u in units]
    previous_end = 0
    for position, sentence in enumerate(sentences):
        start, end = sentence.span.start, sentence.span.end
        assert previous_end <= start < end <= len(text), (sentence, previous_end)
        quoted = text[start:end]
        assert quoted == quoted.strip() and quoted, repr(quoted)  # no white space kept at either end
        assert quoted.strip() not in boilerplate
        assert sentence.position == position
        previous_end = end
    covered: set[int] = set()
    previous_first = -1
    for passage in passages:
        assert 0 <= passage.first_sentence <= passage.last_sentence < len(units)
        assert passage.first_sentence > previous_first  # ordered, each window starts later
        previous_first = passage.first_sentence
        assert passage.span.start == units[passage.first_sentence].span.start
        assert passage.span.end == units[passage.last_sentence].span.end
        quoted = text[passage.span.start : passage.span.end]
        assert quoted and quoted == quoted.strip()
        window = range(passage.first_sentence, passage.last_sentence + 1)
        kinds = {units[i].kind == "item" for i in window}
        assert len(kinds) == 1  # prose and list items are never mixed in one passage
        limit = CHUNKING["list_items_per_passage"] if kinds == {True} else CHUNKING["passage_sentences"]
        assert len(window) <= limit
        covered.update(window)
    assert covered == set(range(len(units)))  # no unit is left out of every passage
    # non-white text outside every unit is only what was left out on purpose (boilerplate lines)
    if not boilerplate:
        outside = list(text)
        for unit in units:
            outside[unit.span.start : unit.span.end] = [" "] * (unit.span.end - unit.span.start)
        assert "".join(outside).strip() == "", repr("".join(outside).strip())


@settings(max_examples=500, **PROPERTY)
@given(st.one_of(document_text(), st.text(max_size=300)))
def test_random_documents_chunk_into_exact_spans(text: str) -> None:
    check_chunks(text)


@settings(max_examples=100, **PROPERTY)
@given(document_text(), st.sampled_from(["\n", "\r\n", "\r"]))
def test_a_text_file_chunks_into_spans_of_its_read_text(text: str, newline: str) -> None:
    """Through the file reader: the document text is exactly Path.read_text, whatever its line ends."""
    raw = text.replace("\r\n", "\n").replace("\n", newline)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.txt"
        path.write_bytes(raw.encode("utf-8"))
        result = corpus.read_corpus(Path(folder))
        if not raw.strip() or b"\x00" in raw.encode("utf-8"):
            assert not result.documents and len(result.warnings) == 1
            return
        (document,) = result.documents
        assert document.text == path.read_text(encoding="utf-8")
    check_chunks(document.text)


def test_boilerplate_lines_are_left_out() -> None:
    text = "Home About Contact\nThe first sentence.\nHome About Contact\n\nThe second one.\n"
    check_chunks(text, frozenset({"Home About Contact"}))
    units = chunking.split_units(text, frozenset({"Home About Contact"}))
    assert [text[u.span.start : u.span.end] for u in units] == ["The first sentence.", "The second one."]


@pytest.mark.parametrize("text", ["a\x1c1.\t", "x \x1f2. y 3. z", "Intro.\nThe list \x1f1. first. Then\nmore."])
def test_text_the_sentence_splitter_fails_on_still_chunks(text: str) -> None:
    """pysbd raises ValueError on a list number after a control character (found by the property
    above); the chunker reads such a line break as a space, else falls back to a punctuation split."""
    with pytest.raises(ValueError):
        chunking._segmenter().segment(text)
    check_chunks(text)
    assert chunking.split_units(text)


# ----------------------------------------------------------------------------- questions


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    folder = tmp_path_factory.mktemp("properties") / "corpus"
    folder.mkdir()
    (folder / "festival.txt").write_text(
        "Menu Home About\n\nThe river festival was held in Lyon.\nIt lasted three\ndays in June.\n\n"
        "Signatories:\n\n1. Acme Union\n2. Beta Watch (Japan)\n",
        encoding="utf-8",
    )
    (folder / "world.txt").write_text(
        "Menu Home About\n\nوقعت المنظمات على الرسالة.\nהארגונים חתמו על המכתב.\n论坛在北京举行。\n", encoding="utf-8"
    )
    settings = Settings(corpus_dir=folder, index_dir=folder.parent / "index")
    return Engine.open(settings, embedder=HashingEmbedder(), build="missing")


QUESTION_WORDS = st.sampled_from(
    [
        "who",
        "Where",
        "the",
        "river",
        "festival",
        "Lyon",
        "signed",
        "it",
        "?",
        "...",
        "\x00",
        "\x1b[2J",
        "😀",
        "👍🏽",
        "中国",
        "论坛",
        "حقوق",
        "الرسالة",
        "מכתב",
        "\u202e",
        "\u200d",
        "\ufeff",
        "e\u0301",
        "\ud800",
        "Acme",
        "1.",
        "*",
        "OR",
        "AND",
        "\\",
        "%s",
        "{0}",
        "<script>",
        "'",
        '"',
        "\n",
        "\t",
    ]
)
QUESTIONS = st.one_of(
    st.text(max_size=200),
    st.lists(QUESTION_WORDS, max_size=25).map(" ".join),
    st.lists(QUESTION_WORDS, max_size=25).map("".join),
)


@settings(max_examples=500, **PROPERTY)
@given(question=QUESTIONS, history=st.lists(QUESTIONS, max_size=2), k=st.integers(-1, 12))
def test_random_questions_never_crash_the_query_path(engine: Engine, question: str, history: list[str], k: int) -> None:
    try:
        answer = engine.ask(question, k, history=history)
    except HrqaError as error:  # refusing is fine; it must say why
        assert str(error)
    else:
        index = engine.index
        sources = k or engine.settings.top_k  # -k N sets how many sources, beyond those the answer cites
        assert len(answer.citations) <= max(sources, len(answer.sentences))
        assert {s.citation for s in answer.sentences} <= {c.n for c in answer.citations}
        for s in answer.sentences:
            assert index.documents[s.doc].text[s.span.start : s.span.end] == s.text
        for c in answer.citations:
            assert index.documents[c.doc].text[c.span.start : c.span.end] == c.passage
        answer.to_json()
    try:
        engine.find(question)
    except HrqaError as error:
        assert str(error)
