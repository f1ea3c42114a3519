"""End to end in a real headless browser: Playwright driving Debian's chromium against `python app.py`."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import urllib.parse
from pathlib import Path

import pytest

from hrqa.ui import share_query
from tests.test_ui_api import ASEM, ASEM_DOC, GONG, SEEDS, AppServer, seeds_with_index

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
]
ANSWER_WAIT_MS = 90_000


@pytest.fixture(scope="module")
def app(real_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-browser")
    corpus, index = seeds_with_index(real_engine, folder)
    server = AppServer(corpus, index, folder / "app.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app):
    """A new browser session on the app; fails the test if any dialog opens."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # "Copy with citations" writes to the clipboard; the tests read it back
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url.rstrip("/"))
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app.url)
    page.wait_for_selector("#hrqa-question textarea")
    yield page
    context.close()
    assert not dialogs


def ask(page, question: str, turn: int) -> None:
    """Type a question, press Enter, and wait for the answer of that turn (its first [n] marker)."""
    page.fill("#hrqa-question textarea", question)
    page.press("#hrqa-question textarea", "Enter")
    page.wait_for_selector(f'#hrqa-chat a[href^="#hrqa-{turn}-"]', timeout=ANSWER_WAIT_MS)


def test_answer_then_its_citation_opens_the_document_with_the_sentence_highlighted(page):
    ask(page, GONG, 0)
    assert "the Global Times and China News Network" in page.inner_text("#hrqa-chat")

    # the citation marker right after the quoted sentence opens its passage with that sentence marked
    number = page.evaluate(
        """() => { const text = document.querySelector('#hrqa-chat').innerText;
                   const at = text.indexOf('the Global Times and China News Network');
                   return text.slice(at).match(/\\[(\\d+)\\]/)[1]; }"""
    )
    page.click(f'#hrqa-chat a[href="#hrqa-0-{number}"]')
    page.wait_for_selector("#hrqa-document mark", timeout=30_000)
    marks = page.locator("#hrqa-document mark").all_inner_texts()
    assert any("interviewed by the Global Times and China News Network" in m for m in marks)
    assert page.locator("#hrqa-document #hrqa-focus").count() == 1
    assert "Professor Gong Xianghe attends the 2025 Asian Human Rights Forum" in page.inner_text(
        "#hrqa-document .hrqa-doc-title"
    )
    page.wait_for_timeout(300)  # the scroll runs after the update renders
    assert _visible_in_box(page, "#hrqa-document mark"), "the highlighted sentence was not scrolled into view"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-answer-document.png"), full_page=True)


def _visible_in_box(page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            const box = el.closest('.hrqa-box').getBoundingClientRect();
            const r = el.getBoundingClientRect();
            return r.bottom > box.top && r.top < box.bottom && r.top >= 0 && r.top < window.innerHeight;
        }""",
        selector,
    )


def test_show_in_document_button_opens_that_source(page):
    ask(page, GONG, 0)
    cards = page.locator("#hrqa-sources .hrqa-card")
    assert cards.count() >= 2
    second = cards.nth(1)
    number = second.locator(".hrqa-show").get_attribute("data-hrqa-cite")
    passage = " ".join(second.locator(".hrqa-passage").inner_text().split())

    second.locator(".hrqa-show").click()
    page.wait_for_selector(f"#hrqa-card-0-{number}.hrqa-selected", timeout=30_000)

    focus = " ".join(page.locator("#hrqa-document .hrqa-focus").all_inner_texts())
    assert " ".join(focus.split()) == passage


def test_example_question_then_follow_up_uses_the_conversation(page):
    page.get_by_role("button", name=ASEM).click()
    page.wait_for_selector('#hrqa-chat a[href^="#hrqa-0-"]', timeout=ANSWER_WAIT_MS)
    ask(page, "Who hosted it?", 1)

    sources = page.inner_text("#hrqa-sources")
    assert "Sources for “Who hosted it?”" in sources
    titles = page.locator("#hrqa-sources .hrqa-card-title").all_inner_texts()
    assert titles and all("23rd Informal ASEM Seminar on Human Rights" in t for t in titles)


def test_sources_are_grouped_by_publisher_and_can_be_ordered_by_date(page):
    ask(page, "Is China's use of surveillance technology portrayed as protective or as a threat?", 0)
    assert page.locator("#hrqa-sources .hrqa-group").count() >= 2

    page.get_by_label("document date").check()
    page.wait_for_function("document.querySelector('#hrqa-order input[value=\"document date\"]').checked")
    page.wait_for_timeout(1000)
    metas = page.locator("#hrqa-sources .hrqa-card .hrqa-meta").all_inner_texts()
    dates = [m.split("·")[0].strip() for m in metas]
    dated = [d for d in dates if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)]
    assert dated == sorted(dated)
    assert dates == dated + ["undated"] * (len(dates) - len(dated))


def test_a_question_the_documents_do_not_answer_is_said_plainly(page):
    ask(page, "What is the capital of Peru?", 0)

    assert "The documents do not answer this question." in page.inner_text("#hrqa-chat")
    assert "none of them answers it" in page.inner_text("#hrqa-sources")


# ----------------------------------------------------------------------------- the researcher's desk (issue 13)

OPEN_LETTER = "004_6fc4feaa17a14d90.txt"


def _seed_text(doc: str) -> str:
    return (SEEDS / doc).read_text(encoding="utf-8")


def _find(page, term: str) -> None:
    page.get_by_role("tab", name="Find every mention").click()
    page.fill("#hrqa-find-term input, #hrqa-find-term textarea", term)
    page.click("#hrqa-find")
    page.wait_for_selector("#hrqa-find-results .hrqa-find-summary", timeout=ANSWER_WAIT_MS)


def test_find_lists_counts_and_highlighted_lines_and_a_click_opens_the_mention(page, real_engine):
    expected = real_engine.every_mention("Japan")  # the engine the app serves, over the same seeds
    _find(page, "Japan")

    summary = page.inner_text("#hrqa-find-results .hrqa-find-summary")
    assert f"{expected.total} mentions of “Japan” in {len(expected.counts)} documents" in summary
    rows = page.locator("#hrqa-find-results .hrqa-count")
    assert [r.locator(".hrqa-count-n").inner_text() for r in rows.all()] == [str(n) for _, n in expected.counts]
    assert rows.first.locator(".hrqa-count-title").inner_text() == expected.counts[0][0].title
    assert expected.counts[0][0].id == OPEN_LETTER  # the signatories' list names Japan most often
    mentions = page.locator("#hrqa-find-results .hrqa-mention")
    assert mentions.count() == expected.total
    assert page.locator("#hrqa-find-results .hrqa-mention mark").all_inner_texts() == ["Japan"] * expected.total

    chosen = mentions.nth(expected.total - 1)  # far down the open letter: the viewer must scroll to it
    doc, start, end = (chosen.get_attribute(f"data-hrqa-{a}") for a in ("open", "start", "end"))
    chosen.locator(".hrqa-mention-line").click()
    page.wait_for_selector("#hrqa-document .hrqa-focus mark", timeout=30_000)
    assert _seed_text(doc)[int(start) : int(end)] == "Japan" == page.inner_text("#hrqa-document .hrqa-focus mark")
    assert f"Characters {int(start):,}–{int(end):,} are highlighted" in page.inner_text("#hrqa-document")
    page.wait_for_timeout(300)
    assert _visible_in_box(page, "#hrqa-document .hrqa-focus mark"), "the mention was not scrolled into view"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-find.png"), full_page=True)

    # each mention carries a shareable link to itself
    href = chosen.locator("a.hrqa-link").get_attribute("href")
    sha = real_engine.document(doc).sha256
    assert href == share_query(doc, int(start), int(end), sha)


def test_find_a_word_absent_from_the_corpus_says_what_was_searched(page, real_engine):
    characters = sum(d.characters for d in real_engine.documents().documents)
    _find(page, "Zanzibar")

    assert page.inner_text("#hrqa-find-results .hrqa-find-summary") == (
        f"Searched 5 documents, {characters:,} characters: no mention of “Zanzibar”"
    )
    assert page.locator("#hrqa-find-results .hrqa-mention").count() == 0


def test_documents_view_lists_the_five_seeds_with_their_catalog_fields(page, real_engine):
    catalog = tomllib.loads((SEEDS / "catalog.toml").read_text(encoding="utf-8"))
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#hrqa-documents .hrqa-doc-row", timeout=30_000)

    rows = page.locator("#hrqa-documents .hrqa-doc-row")
    assert rows.count() == 5
    listing = {d.id: d for d in real_engine.documents().documents}
    for row in rows.all():
        doc = row.locator(".hrqa-doc-id").inner_text()
        entry = catalog[doc]
        assert row.locator(".hrqa-doc-row-title").inner_text().removesuffix("Open").strip() == entry["title"]
        assert row.locator(".hrqa-doc-publisher").inner_text() == entry["publisher"]
        assert row.locator(".hrqa-doc-kind").inner_text() == entry["kind"]
        assert row.locator(".hrqa-doc-date").inner_text() == entry.get("date", "undated")
        assert row.locator(".hrqa-doc-url").inner_text() == "no URL in the catalog"
        assert row.locator(".hrqa-doc-size").inner_text() == f"{listing[doc].characters:,} characters"
        assert row.locator(".hrqa-doc-passages").inner_text() == f"{listing[doc].passages} passages"
    head = page.inner_text("#hrqa-documents .hrqa-docs-head")
    assert real_engine.index.id in head and real_engine.index.model in head

    page.locator("#hrqa-docs-order").get_by_label("date").check()
    # corpus order also starts with 2025-06-08: wait for the third row, which only the date order changes
    page.wait_for_function(
        "document.querySelectorAll('#hrqa-documents .hrqa-doc-date')[2]?.innerText === '2010-05-10'",
        timeout=30_000,
    )
    dates = page.locator("#hrqa-documents .hrqa-doc-date").all_inner_texts()
    assert dates == ["2025-06-08", "2023-07-31", "2010-05-10", "undated", "undated"]

    page.locator("#hrqa-documents .hrqa-doc-row", has_text=catalog[OPEN_LETTER]["title"]).get_by_role(
        "button", name="Open"
    ).click()
    page.wait_for_function(
        "document.querySelector('#hrqa-document .hrqa-doc-title')?.innerText.includes('Joint Open Letter')",
        timeout=30_000,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-documents.png"), full_page=True)


def test_cjk_cyrillic_and_arabic_names_render_as_glyphs_not_boxes(page):
    """The open letter's signatories in Japanese, Chinese, Russian and Arabic: each character is drawn with
    the page's fonts and compared with a character no font has (drawn as an empty box or nothing)."""
    page.get_by_role("tab", name="Documents").click()
    page.wait_for_selector("#hrqa-documents .hrqa-doc-row", timeout=30_000)
    page.locator("#hrqa-documents button[data-hrqa-open='004_6fc4feaa17a14d90.txt']").click()
    page.wait_for_selector("#hrqa-document .hrqa-doc-text", timeout=30_000)
    names = ["日本ウイグル協会", "台灣南社", "Московская Хельсинкская группа", "مرصد الصحراء"]
    text = page.inner_text("#hrqa-document .hrqa-doc-text")
    assert all(name in text for name in names)

    missing = page.evaluate(
        """(names) => {
            const family = getComputedStyle(document.querySelector('#hrqa-document .hrqa-doc-text')).fontFamily;
            const canvas = document.createElement('canvas');
            canvas.width = 64; canvas.height = 64;
            const g = canvas.getContext('2d', {willReadFrequently: true});
            const draw = (c) => {
                g.clearRect(0, 0, 64, 64); g.font = `40px ${family}`; g.fillText(c, 8, 48);
                return g.getImageData(0, 0, 64, 64).data.join(',');
            };
            const nothing = draw('\\u{10FFFD}');  // a private-use character: no font draws it
            return [...names.join('')].filter((c) => c.trim() && draw(c) === nothing);
        }""",
        [*names, "\u0378"],  # the last: an unassigned code point, which the check must find missing
    )
    assert missing == ["\u0378"]
    page.locator("#hrqa-document .hrqa-box").evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#hrqa-document").screenshot(path=str(ARTIFACTS / "browser-cjk.png"))


_QUOTE = re.compile(r"“(.*?)” \[(\d+)\] \(characters (\d+)–(\d+)\)", re.DOTALL)
_REFERENCE = re.compile(r"^\[(\d+)\] (.*) Document (.+), characters (\d+)–(\d+)\.$", re.MULTILINE)


def test_copy_with_citations_gives_quotes_equal_to_the_document_text_at_their_offsets(page):
    ask(page, GONG, 0)
    page.get_by_role("button", name="Copy with citations").click()
    page.wait_for_function("document.querySelector('#hrqa-sources .hrqa-copied').innerText === 'Copied.'")

    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#hrqa-sources .hrqa-copy-text").input_value()
    quotes = _QUOTE.findall(copied)
    references = {int(n): (rest, doc, int(a), int(b)) for n, rest, doc, a, b in _REFERENCE.findall(copied)}
    assert quotes and "the Global Times and China News Network" in " ".join(q[0] for q in quotes)
    for text, n, start, end in quotes:
        _, doc, passage_start, passage_end = references[int(n)]
        source = _seed_text(doc)
        assert source[int(start) : int(end)] == text
        assert passage_start <= int(start) < int(end) <= passage_end
    catalog = tomllib.loads((SEEDS / "catalog.toml").read_text(encoding="utf-8"))
    first = references[int(quotes[0][1])]
    entry = catalog[first[1]]
    assert first[0] == f"{entry['title']}. {entry['publisher']}, {entry['date']}. {entry['kind']}."
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-copy.png"), full_page=True)


def test_export_conversation_json_keeps_the_contract_and_markdown_has_the_quotes(page, app, check_contract):
    ask(page, ASEM, 0)
    ask(page, "Who hosted it?", 1)
    page.wait_for_selector("#hrqa-export [data-hrqa-export='json']")
    page.wait_for_function(
        "document.querySelector('#hrqa-export .hrqa-export-json').value.includes('Who hosted it?')", timeout=30_000
    )

    with page.expect_download() as download:
        page.locator("#hrqa-export [data-hrqa-export='json']").click()
    assert download.value.suggested_filename == "hrqa-conversation.json"
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    status = app.status()
    assert exported["index"]["id"] == status["index"]
    assert [t["question"] for t in exported["turns"]] == [ASEM, "Who hosted it?"]
    for turn in exported["turns"]:
        check_contract(turn["answer"], app.corpus)
        assert turn["answer"]["index"]["id"] == status["index"]

    with page.expect_download() as download:
        page.locator("#hrqa-export [data-hrqa-export='md']").click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    assert markdown.startswith("# hrqa conversation")
    assert f"## 1. {ASEM}" in markdown and "## 2. Who hosted it?" in markdown
    for turn in exported["turns"]:
        for sentence in turn["answer"]["answer"]:
            assert sentence["text"].split("\n")[0] in markdown


def _link(doc: str, phrase: str, sha256: str) -> tuple[str, int, int]:
    start = _seed_text(doc).index(phrase)
    return share_query(doc, start, start + len(phrase), sha256), start, start + len(phrase)


def test_a_shared_link_opens_the_document_with_the_span_highlighted(page, app, real_engine):
    phrase = "hosted by the Ministry of Foreign Affairs of Denmark"
    query, start, end = _link(ASEM_DOC, phrase, real_engine.document(ASEM_DOC).sha256)
    page.goto(app.url + query)
    page.wait_for_selector("#hrqa-document .hrqa-focus mark", timeout=60_000)

    assert page.inner_text("#hrqa-document .hrqa-focus mark") == phrase
    assert f"Shared link: Characters {start:,}–{end:,} are highlighted below." in page.inner_text("#hrqa-document")
    page.wait_for_timeout(300)
    assert _visible_in_box(page, "#hrqa-document .hrqa-focus mark")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-shared-link.png"), full_page=True)

    # the source cards of an answer carry such links
    page.goto(app.url)
    page.wait_for_selector("#hrqa-question textarea")
    ask(page, ASEM, 0)
    for card in page.locator("#hrqa-sources .hrqa-card").all():
        query = urllib.parse.parse_qs(card.locator("a.hrqa-link").get_attribute("href").removeprefix("?"))
        (doc,), (start,), (end,), (prefix,) = (query[key] for key in ("doc", "start", "end", "h"))
        passage = " ".join(card.locator(".hrqa-passage").inner_text().split())
        assert " ".join(_seed_text(doc)[int(start) : int(end)].split()) == passage
        assert prefix == real_engine.document(doc).sha256[:16]


def test_a_link_to_a_document_that_changed_since_warns_and_highlights_nothing(page, app):
    """The link was made when the ASEM page read differently: its hash prefix is that version's."""
    earlier = _seed_text(ASEM_DOC).replace("Copenhagen", "Aarhus").encode("utf-8")
    query, _, _ = _link(ASEM_DOC, "hosted by the Ministry", hashlib.sha256(earlier).hexdigest())
    page.goto(app.url + query)
    page.wait_for_selector("#hrqa-document .hrqa-link-warning", timeout=60_000)

    assert "this document has changed since the link was made" in page.inner_text("#hrqa-document .hrqa-link-warning")
    assert page.locator("#hrqa-document mark").count() == 0
    assert "23rd Informal ASEM Seminar" in page.inner_text("#hrqa-document .hrqa-doc-title")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-changed-link.png"), full_page=True)


# runs last: it adds a document to this module's corpus (the tests above expect the five seeds)
def test_upload_adds_a_document_and_the_rebuild_reports_its_counts(page, app, tmp_path):
    upload = tmp_path / "Lantern notes (draft).md"
    upload.write_text(
        "# Lantern notes\n\nThe lantern festival of Vask was moved to the harbour in 1911.\n", encoding="utf-8"
    )
    page.get_by_text("Index: rebuild embeddings, add documents").click()
    page.set_input_files("#hrqa-upload input[type=file]", str(upload))
    page.wait_for_selector("#hrqa-upload :text('Lantern')", timeout=30_000)
    page.click("#hrqa-add")
    page.wait_for_selector("#hrqa-report .hrqa-report", timeout=180_000)

    report = page.inner_text("#hrqa-report")
    assert "Added to the corpus: Lantern_notes_draft.md" in report
    assert re.search(r"Documents added\s+1 \(Lantern_notes_draft\.md\)", report)
    assert re.search(r"Passages embedded\s+\d+ of \d+", report)
    assert (app.corpus / "Lantern_notes_draft.md").read_bytes() == upload.read_bytes()
    page.wait_for_function("document.querySelector('#hrqa-status').innerText.includes('6 documents')", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-upload-rebuild.png"), full_page=True)

    ask(page, "Where was the lantern festival of Vask moved in 1911?", 0)
    assert "harbour" in page.inner_text("#hrqa-chat")
