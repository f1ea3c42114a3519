"""The web app's security (issue 5): escaping of hostile documents, binding and credentials, uploads that
stay inside the corpus, and no requests leaving the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from hrqa import ui, uploads
from hrqa.errors import SettingsError
from hrqa.records import Document, DocumentInfo, DocumentList, FindReport, MentionLine, SharedSpan, Span
from hrqa.settings import Settings
from tests.test_ui_api import ROOT, SEEDS, AppServer

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>")


# ----------------------------------------------------------------------------- escaping (no server)


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(2)>",
        '"><svg onload=alert(3)>',
        "[click](javascript:alert(4))",
        "${alert(5)} {{constructor.constructor('alert(6)')()}} `code` $$x$$",
        "<u>background paper</u> &amp; **bold** _it_ # heading",
    ],
)
def test_escape_leaves_no_markup_and_keeps_every_character(text):
    import html
    import re

    escaped = ui.escape(text)

    bare = re.sub(r"&(#\d+|amp|lt|gt|quot);", "", escaped)  # what is left besides character references
    for character in "<>\"'`[]{}$*_#()&=:/":
        assert character not in bare
    assert html.unescape(escaped) == text


def _hostile_answer() -> dict:
    text = f"The Lantern Protocol was signed in Reykjavik. {PAYLOADS[0]} {PAYLOADS[1]}"
    return {
        "question": f"Where? {PAYLOADS[0]}",
        "abstained": False,
        "searched": "Where?",
        "abstain_reason": None,
        "answer": [{"text": text, "citation": 1, "doc": "h.txt", "start": 0, "end": len(text)}],
        "citations": [
            {
                "n": 1,
                "doc": "h.txt",
                "title": f"Title {PAYLOADS[0]}",
                "date": None,
                "publisher": PAYLOADS[1],
                "kind": "<svg onload=alert(3)>",
                "start": 0,
                "end": len(text),
                "passage": text,
                "score": 1.0,
                "highlights": [[0, len(text)]],
            },
            {
                "n": 2,
                "doc": "g.txt",
                "title": "Other",
                "date": "2020-01-01",
                "publisher": "Other publisher",
                "kind": "NGO",
                "start": 0,
                "end": 5,
                "passage": "Other",
                "score": 0.5,
                "highlights": [],
            },
        ],
    }


def _assert_inert(markup: str) -> None:
    lowered = markup.lower()
    for tag in ("<script", "<img", "<svg", "onerror=", "onload=", "javascript:"):
        assert tag not in lowered, f"{tag} reached the page as markup"


def test_rendered_answer_sources_and_document_contain_no_markup_from_the_data():
    answer = _hostile_answer()
    turns = [{"question": answer["question"], "answer": answer}]
    text = answer["answer"][0]["text"]
    document = Document(
        id="h.txt",
        text=text,
        sha256="0",
        title=f"Title {PAYLOADS[0]}",
        publisher=PAYLOADS[1],
        kind="<svg onload=alert(3)>",
    )

    for markup in (
        *(m["content"] for m in ui.chat_messages(turns)),
        ui.sources_html(turns, 0),
        ui.sources_html(turns, 0, "document date"),
        ui.document_html(document, answer["citations"][0]),
        ui.notice_html(f"no indexed document {PAYLOADS[1]!r}"),
    ):
        _assert_inert(markup)


def test_document_view_marks_the_answer_sentence_inside_the_cited_passage():
    text = "First sentence. Second <b>one</b> here. Third."
    document = Document(id="d.txt", text=text, sha256="0", title="T")
    start, end = text.index("Second"), text.index(" Third")
    citation = {"n": 2, "start": 0, "end": len(text), "passage": text, "highlights": [[start, end]]}

    markup = ui.document_html(document, citation)

    assert "<mark>Second &lt;b&gt;one&lt;&#47;b&gt; here.</mark>" in markup
    assert markup.count('id="hrqa-focus"') == 1


def test_document_view_does_not_highlight_a_passage_that_no_longer_matches():
    document = Document(id="d.txt", text="Edited text since the answer.", sha256="0", title="T")
    citation = {"n": 1, "start": 0, "end": 6, "passage": "Former", "highlights": [[0, 6]]}

    markup = ui.document_html(document, citation)

    assert "<mark>" not in markup and "changed since the answer" in markup


def _hostile_info(doc: str = 'h"><script>alert(9)</script>.txt', url: str | None = None) -> DocumentInfo:
    return DocumentInfo(
        id=doc,
        title=f"Title {PAYLOADS[0]}",
        date="<b>2024</b>",
        publisher=PAYLOADS[1],
        kind="<svg onload=alert(3)>",
        url=url,
        sha256="ab" * 32,
        characters=120,
        passages=2,
    )


@pytest.mark.parametrize(
    "url", [None, "javascript:alert(10)", 'https://example.org/"><script>alert(11)</script>', "data:text/html,<b>x"]
)
def test_find_documents_and_link_views_contain_no_markup_from_the_data(url):
    import html

    info = _hostile_info(url=url)
    line = f"The Lantern Protocol {PAYLOADS[0]} was signed {PAYLOADS[1]} [x](javascript:alert(12)) ${{alert(13)}}"
    start = line.index("Lantern")
    mention = MentionLine(info.id, Span(40 + start, 40 + start + 7), Span(40, 40 + len(line)), line, True, True)
    report = FindReport(f"Lantern {PAYLOADS[0]}", 1, 120, ((info, 1),), (mention,), 1, "i")
    empty = FindReport(PAYLOADS[1], 1, 120, (), (), 0, "i")
    listing = DocumentList("<i>index</i>", PAYLOADS[0], PAYLOADS[1], (info,))
    document = Document(id=info.id, text=" " * 40 + line, sha256=info.sha256, title=info.title, kind=info.kind)
    answer = _hostile_answer()
    turns = [{"question": answer["question"], "answer": answer, "documents": {"h.txt": info.to_json()}}]

    views = [
        ui.find_html(report),
        ui.find_html(empty),
        *(ui.documents_html(listing, order) for order in ui.DOCUMENT_ORDERS),
        ui.span_html(SharedSpan(document, mention.span)),
        ui.span_html(SharedSpan(document, None, f"changed {PAYLOADS[0]}")),
        ui.sources_html(turns, 0),
        ui.copy_block(answer, turns[0]["documents"]),
        ui.export_html(turns, {"id": PAYLOADS[0], "model": PAYLOADS[1]}),
        ui.share_link(info.id, 1, 2, info.sha256),
    ]
    for markup in views:
        _assert_inert(markup)
    # shown as the characters they are: the page's text holds each payload
    text = html.unescape(ui.find_html(report))
    assert PAYLOADS[0] in text and "[x](javascript:alert(12))" in text and info.title in text
    assert info.title in html.unescape(ui.documents_html(listing)) and PAYLOADS[1] in html.unescape(
        views[-1] + views[2]
    )
    assert "<mark>Lantern</mark>" in ui.find_html(report)
    if url is not None and not url.startswith("https://"):  # only a web address becomes a link
        assert "hrqa-url" not in views[2]


def test_copy_and_export_keep_hostile_text_verbatim_inside_the_page():
    import html
    import json

    answer = _hostile_answer()
    turns = [{"question": "</textarea><script>alert(14)</script>", "answer": answer}]
    copied = ui.citations_text(answer)
    block = ui.copy_block(answer)
    exported = ui.export_html(turns, {"id": "i", "model": "m"})

    assert block.count("</textarea>") == 1 and exported.count("</textarea>") == 2  # never closed early
    assert html.unescape(block.split("readonly>")[1].removesuffix("</textarea></div>")) == copied
    assert PAYLOADS[0] in copied and PAYLOADS[1] in copied
    stored = exported.split('class="hrqa-export-json" hidden readonly>')[1].split("</textarea>")[0]
    data = json.loads(html.unescape(stored))
    assert data["turns"][0] == {"question": turns[0]["question"], "answer": answer, "notice": None}
    assert turns[0]["question"] in html.unescape(exported.split('class="hrqa-export-md" hidden readonly>')[1])


# ----------------------------------------------------------------------------- binding and credentials


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_without_credentials(host):
    assert ui.check_binding(Settings(host=host)) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_binding_beyond_loopback_needs_credentials_or_insecure(host):
    with pytest.raises(SettingsError, match="HRQA_AUTH=user:password.*--insecure"):
        ui.check_binding(Settings(host=host))


def test_insecure_binding_warns(capsys):
    assert ui.check_binding(Settings(host="0.0.0.0", insecure=True)) is None
    assert "WARNING: serving on 0.0.0.0:7860 without credentials" in capsys.readouterr().err


def test_credentials_become_gradio_auth():
    assert ui.check_binding(Settings(host="0.0.0.0", auth="reader:long:secret")) == ("reader", "long:secret")


def test_credentials_need_a_password():
    with pytest.raises(SettingsError, match="needs a password"):
        ui.check_binding(Settings(auth="reader:"))


def test_app_refuses_to_bind_everywhere_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--host", "0.0.0.0", "--port", "9"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 2
    assert "refusing to serve on 0.0.0.0 without credentials" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- uploads


@pytest.mark.parametrize(
    "original, saved",
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\evil.md", "evil.md"),
        ("/abs/path/Ünïcode Report (2024).PDF", "Unicode_Report_2024.pdf"),
        (".hidden.html", "hidden.html"),
        ("<script>alert(1)</script>.htm", "script.htm"),  # "/" ends a path component
        ("<b onmouseover=alert(1)>notes.md", "b_onmouseover_alert_1_notes.md"),
        ("README.md", "upload-README.md"),
        ("....txt", "upload.txt"),
    ],
)
def test_upload_names_are_sanitised(original, saved):
    assert uploads.sanitise_name(original) == saved


@pytest.mark.parametrize(
    "original", ["tool.exe", "catalog.toml", "archive.tar.gz", "no_extension", "data.jsonl", "page.html.php"]
)
def test_upload_refuses_other_file_types(original):
    with pytest.raises(uploads.UploadError, match="is not accepted"):
        uploads.sanitise_name(original)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "existing.txt").write_text("Already here.\n", encoding="utf-8")
    return folder


def _source(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_upload_is_saved_inside_the_corpus_without_overwriting(corpus, tmp_path):
    source = _source(tmp_path, b"New text.\n")

    first = uploads.save_upload(source, "../existing.txt", corpus, 1000)
    second = uploads.save_upload(source, "existing.txt", corpus, 1000)

    assert first.path == corpus / "existing-1.txt" and second.path == corpus / "existing-2.txt"
    assert (corpus / "existing.txt").read_text(encoding="utf-8") == "Already here.\n"
    assert first.path.read_bytes() == b"New text.\n"
    assert sorted(p.name for p in corpus.iterdir()) == ["existing-1.txt", "existing-2.txt", "existing.txt"]


def test_upload_never_follows_a_symlink_out_of_the_corpus(corpus, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n", encoding="utf-8")
    (corpus / "notes.txt").symlink_to(outside)

    saved = uploads.save_upload(_source(tmp_path, b"Notes.\n"), "notes.txt", corpus, 1000)

    assert saved.path == corpus / "notes-1.txt"
    assert outside.read_text(encoding="utf-8") == "secret\n"


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"x" * 1001, "big.txt", "over the limit of 1000"),
        (b"", "empty.txt", "is empty"),
        (b"text\x00\x01binary", "binary.txt", "binary content"),
        (b"<html>not a pdf</html>", "fake.pdf", "not a PDF"),
    ],
)
def test_upload_refuses_bad_content_and_leaves_no_file(corpus, tmp_path, data, name, message):
    with pytest.raises(uploads.UploadError, match=message):
        uploads.save_upload(_source(tmp_path, data), name, corpus, 1000)
    assert sorted(p.name for p in corpus.iterdir()) == ["existing.txt"]


def test_upload_of_a_real_pdf_header_is_accepted(corpus, tmp_path):
    saved = uploads.save_upload(_source(tmp_path, b"%PDF-1.4\n%...\n"), "Scan.PDF", corpus, 1000)
    assert saved.path == corpus / "Scan.pdf"


# ----------------------------------------------------------------------------- hostile documents in a browser

HOSTILE_TEXT = (
    "Lantern Protocol briefing\n\n"
    "The Lantern Protocol was signed in Reykjavik by eleven observer groups <script>alert(1)</script> "
    "according to the briefing <img src=x onerror=alert(2)> of the observers.\n\n"
    'The observers also wrote <img src=x onerror="window.__xss=1"> and ${alert(3)} and '
    "{{constructor.constructor('alert(4)')()}} and [read more](javascript:alert(5)) in the margin.\n"
)
HOSTILE_CATALOG = """
["hostile.txt"]
title = "Lantern briefing <script>alert('title')</script><img src=x onerror=alert(6)>"
publisher = "<img src=x onerror=alert(7)> Observer Watch"
kind = "<svg onload=alert(8)>"
date = "2024-03-01"
"""
CREDENTIALS = ("reader", "correct horse battery")


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    """The app with credentials set, over a seed document and a hostile one, building its index at start."""
    folder = tmp_path_factory.mktemp("ui-security")
    corpus = folder / "corpus"
    corpus.mkdir()
    shutil.copy(SEEDS / "000_64fb9a0533498b8d.txt", corpus)
    (corpus / "hostile.txt").write_text(HOSTILE_TEXT, encoding="utf-8")
    seed_entry = (SEEDS / "catalog.toml").read_text(encoding="utf-8").split('["001_')[0]
    (corpus / "catalog.toml").write_text(seed_entry + HOSTILE_CATALOG, encoding="utf-8")
    server = AppServer(corpus, folder / "index", folder / "app.log", auth=CREDENTIALS).start()
    yield server
    server.stop()


@pytest.mark.slow
def test_api_needs_the_credentials(hostile_app):
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(hostile_app.url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):  # Gradio answers 400 to a wrong password
        Client(hostile_app.url, verbose=False, auth=(CREDENTIALS[0], "wrong"))
    result = hostile_app.client().predict("Where was the Lantern Protocol signed?", api_name="/ask")
    assert result["citations"][0]["doc"] == "hostile.txt"


@pytest.mark.slow
@pytest.mark.parametrize("doc_id", ["../corpus/hostile.txt", "/etc/passwd", "catalog.toml", "hostile.txt/.."])
def test_document_api_serves_only_indexed_ids(hostile_app, doc_id):
    from gradio_client.exceptions import AppError

    client = hostile_app.client()
    with pytest.raises(AppError, match="no indexed document"):
        client.predict(doc_id, api_name="/document")
    assert client.predict("hostile.txt", api_name="/document")["text"] == HOSTILE_TEXT


@pytest.mark.slow
def test_hostile_document_is_shown_as_text_and_runs_no_script(hostile_app):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    dialogs: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(hostile_app.url)
        page.locator("input[type=text]").first.fill(CREDENTIALS[0])
        page.locator("input[type=password]").fill(CREDENTIALS[1])
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#hrqa-question textarea", timeout=30_000)

        page.fill("#hrqa-question textarea", "Where was the Lantern Protocol signed?")
        page.click("#hrqa-ask")
        page.wait_for_selector('#hrqa-chat a[href^="#hrqa-0-"]', timeout=90_000)
        page.locator("#hrqa-sources .hrqa-show[data-hrqa-cite]").first.click()
        page.wait_for_selector("#hrqa-document .hrqa-focus", timeout=30_000)
        page.wait_for_timeout(1500)  # give any injected handler (onerror, onload) time to run

        chat, sources, document = (page.inner_text(s) for s in ("#hrqa-chat", "#hrqa-sources", "#hrqa-document"))
        injected = page.evaluate("""() => ({
            flag: window.__xss === undefined ? null : window.__xss,
            images: document.querySelectorAll('img[src="x"]').length,
            scripts: document.querySelectorAll('#hrqa-chat script, #hrqa-sources script, #hrqa-document script').length,
            svgs: document.querySelectorAll('#hrqa-sources svg, #hrqa-document svg').length,
            links: document.querySelectorAll('a[href^="javascript:"]').length,
        })""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-hostile-document.png"), full_page=True)
        browser.close()

    assert dialogs == []
    assert injected == {"flag": None, "images": 0, "scripts": 0, "svgs": 0, "links": 0}
    assert "<script>alert(1)</script>" in chat
    assert "<img src=x onerror=alert(2)>" in chat
    assert "Lantern briefing <script>alert('title')</script><img src=x onerror=alert(6)>" in sources
    assert "<img src=x onerror=alert(7)> Observer Watch" in sources
    assert "<svg onload=alert(8)>" in sources
    for payload in (
        "<script>alert(1)</script>",
        "${alert(3)}",
        "{{constructor.constructor('alert(4)')()}}",
        "[read more](javascript:alert(5))",
    ):
        assert payload in document
    # nothing was fetched from anywhere but the app itself (no analytics, fonts or CDN; no injected <img src=x>)
    hosts = {urlparse(u).netloc for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {f"127.0.0.1:{hostile_app.port}"}
    assert not [u for u in requests if urlparse(u).path.rstrip("/").endswith("/x")]


# ----------------------------------------------------------------------------- request limits (issue 14)


@pytest.fixture
def limited_app(tmp_path: Path):
    """The app in this process (no index needed), with a small body limit and session store."""
    import socket

    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index", max_request_bytes=10_000, max_sessions=5)
    demo = ui.build_app(ui.Service(settings))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        **ui.launch_limits(settings),
    )
    try:
        yield demo, f"http://127.0.0.1:{port}"
    finally:
        demo.close()


def _raw_call(base: str, name: str, data: list) -> str:
    """One raw REST call, as curl would make it: POST the inputs, then read the result stream."""
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{base}/gradio_api/call/{name}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{base}/gradio_api/call/{name}/{event}", timeout=30) as response:
        return response.read().decode()


def test_request_bodies_over_the_limit_are_refused_before_parsing(limited_app):
    import http.client
    import json
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse

    _, base = limited_app
    body = json.dumps({"data": ["x" * 20_000, 0, [], [], []]}).encode()
    request = urllib.request.Request(
        f"{base}/gradio_api/call/ask", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 413
    assert json.loads(caught.value.read())["error"] == (
        f"the request body ({len(body)} bytes) is over the limit of 10000 bytes (setting max_request_bytes)"
    )
    # without a Content-Length (chunked), the body is counted as it arrives
    address = urlparse(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request(
        "POST",
        "/gradio_api/call/ask",
        body=(b"x" * 1000 for _ in range(30)),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 413 and b"max_request_bytes" in response.read()
    connection.close()
    # a body under the limit is served as before
    assert '"ready": false' in _raw_call(base, "status", [])


def test_raw_rest_calls_leave_a_bounded_number_of_sessions(limited_app):
    """Each raw call to /gradio_api/call/* opens a session (about 63 KB); the store keeps at most
    max_sessions of them, dropping the least recently used."""
    demo, base = limited_app
    for _ in range(20):
        _raw_call(base, "status", [])
    assert 1 <= len(demo.state_holder.session_data) <= 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["Where?", 1.5, [], [], []], "k must be a whole number from 1 to 50, not 1.5"),
        (["Where?", "5", [], [], []], "k must be a whole number from 1 to 50, not '5'"),
        (["Where?", 0, [None, 5], [], []], "history item 1 must be text, not None"),
        (["Where?", 0, "Where was it?", [], []], "history must be a list of earlier questions, not a single string"),
        (["Where?", 0, [], "festival.txt", []], "docs must be a list of document ids, not a single string"),
        (["Where?", 0, [], [], [["NGO"]]], "kinds item 1 must be text, not ['NGO']"),
        (["Where?", 0, [], ["nowhere.txt"], []], "no indexed document 'nowhere.txt'"),
        (["\u200d" * 50, 0, [], [], []], "the question is empty (only invisible characters)"),
    ],
)
def test_malformed_api_arguments_get_a_one_line_error(api_engine_app, data, message):
    import json

    stream = _raw_call(api_engine_app, "ask", data)
    events = dict(zip(stream.splitlines()[0::3], stream.splitlines()[1::3], strict=False))
    assert "event: error" in events, stream
    error = json.loads(events["event: error"].removeprefix("data: "))["error"]
    assert error is not None and error.startswith(message) and "\n" not in error


@pytest.fixture(scope="module")
def api_engine_app(tmp_path_factory):
    """The app in this process over a tiny indexed corpus (fake embedder): the arguments of ask are
    checked before any model work, so no real model is needed."""
    import socket

    from hrqa.embedding import HashingEmbedder
    from hrqa.engine import Engine

    root = tmp_path_factory.mktemp("api-args")
    (root / "corpus").mkdir()
    (root / "corpus" / "festival.txt").write_text("The river festival was held in Lyon.\n", encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    service = ui.Service(settings, embedder=HashingEmbedder())
    service.engine = Engine.open(settings, embedder=HashingEmbedder(), build="missing")
    demo = ui.build_app(service)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        **ui.launch_limits(settings),
    )
    yield f"http://127.0.0.1:{port}"
    demo.close()


@pytest.mark.slow
def test_hostile_titles_and_mentions_in_find_documents_and_links_are_text(hostile_app):
    """The Find panel, the Documents view and a shared link show the hostile catalog entry and document
    as characters, run nothing, and a link with a hostile document id is refused as text."""
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(hostile_app.url + "?doc=" + quote("<img src=x onerror=alert(20)>") + "&start=0&end=4")
        page.locator("input[type=text]").first.fill(CREDENTIALS[0])
        page.locator("input[type=password]").fill(CREDENTIALS[1])
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#hrqa-question textarea", timeout=30_000)
        if "?doc=" not in page.url:  # the login page may drop the query: open the link again, signed in
            page.goto(hostile_app.url + "?doc=" + quote("<img src=x onerror=alert(20)>") + "&start=0&end=4")
        page.wait_for_selector("#hrqa-document .hrqa-error", timeout=60_000)
        refused = page.inner_text("#hrqa-document")

        page.get_by_role("tab", name="Find every mention").click()
        page.fill("#hrqa-find-term input, #hrqa-find-term textarea", "observers")
        page.click("#hrqa-find")
        page.wait_for_selector("#hrqa-find-results .hrqa-mention", timeout=60_000)
        page.locator("#hrqa-find-results .hrqa-mention-line").first.click()
        page.wait_for_selector("#hrqa-document .hrqa-focus mark", timeout=30_000)
        found, opened = page.inner_text("#hrqa-find-results"), page.inner_text("#hrqa-document")

        page.get_by_role("tab", name="Documents").click()
        page.wait_for_selector("#hrqa-documents .hrqa-doc-row", timeout=30_000)
        listed = page.inner_text("#hrqa-documents")
        page.wait_for_timeout(1500)  # give any injected handler time to run
        injected = page.evaluate("""() => ({
            flag: window.__xss === undefined ? null : window.__xss,
            images: document.querySelectorAll('img[src="x"]').length,
            scripts: document.querySelectorAll('#hrqa-find-results script, #hrqa-documents script, #hrqa-document script').length,
            svgs: document.querySelectorAll('#hrqa-find-results svg, #hrqa-documents svg').length,
        })""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-hostile-desk.png"), full_page=True)
        browser.close()

    assert dialogs == []
    assert injected == {"flag": None, "images": 0, "scripts": 0, "svgs": 0}
    assert "no indexed document '<img src=x onerror=alert(20)>'" in refused
    title = "Lantern briefing <script>alert('title')</script><img src=x onerror=alert(6)>"
    for view in (found, listed):
        assert title in view
        assert "<img src=x onerror=alert(7)> Observer Watch" in view
        assert "<svg onload=alert(8)>" in view
    assert "<script>alert(1)</script>" in found  # the mention's line, as characters
    assert title in opened and "<img src=x onerror=alert(2)>" in opened
