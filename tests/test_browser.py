"""End to end in a real headless browser: Playwright driving Debian's chromium against `python app.py`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_ui_api import ASEM, GONG, AppServer, seeds_with_index

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

    page.click('#hrqa-chat a[href="#hrqa-0-1"]')
    mark = page.locator("#hrqa-document mark").first
    mark.wait_for(timeout=30_000)

    assert "interviewed by the Global Times and China News Network" in mark.inner_text()
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
