"""Issue 13 in the browser: a class shared with a group, seen by a member of that group and not
by an outsider, forked, made public; the real `furet serve` over a small flowers collection of
its own, driven by Debian's Chromium (the fixtures of test_browser.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CLI,
    FLOWERS,
    REPO,
    REPORT_CSP,
    furet_cli,
    is_csp_report,
    kind_of,
)

pytestmark = pytest.mark.slow

pytest.importorskip("playwright", reason="pip install playwright (the dev extra)")
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect  # noqa: E402

from tests.web.test_browser import browser  # noqa: E402, F401  (a fixture, over our server)

KINDS = ("daisy", "sunflower", "tulip")
PER_KIND = 12
PASSWORD = "correct-horse-42"
#: Who is who: olga owns the class; rita is in olga's institution (ina); otto is in another one.
USERS = {"olga": ["ina"], "rita": ["ina"], "otto": ["bnf"]}


@dataclass
class Server:
    url: str
    home: Path
    query: Path  # a daisy photo that is not in the collection


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("furet serve did not start:\n" + log.read_text())
        time.sleep(0.3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (the CI script does)")
    if not FLOWERS.is_dir():
        pytest.skip(f"test data {FLOWERS} is absent (it lies beside the clone as ../shared/data)")
    import furet
    from furet.catalog.accounts import AccountStore

    root = tmp_path_factory.mktemp("ui-sharing")
    images = root / "images"
    images.mkdir()
    for kind in KINDS:
        for src in sorted((FLOWERS / kind).glob("*.jpg"))[:PER_KIND]:
            shutil.copy(src, images / f"{kind}_{src.name}")
    query = sorted((FLOWERS / "daisy").glob("*.jpg"))[PER_KIND + 1]
    home = root / "home"
    furet_cli(home, "ingest", str(images), "-c", "flowers")
    accounts = AccountStore(furet.open(home).catalog.sessions)
    for name, groups in USERS.items():
        accounts.create_user(name, PASSWORD, groups=groups)

    port = free_port()
    log_path = root / "serve.log"
    env = {**os.environ, "FURET_HOME": str(home)}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, log_path)
            yield Server(url, home, query)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


PageFactory = Callable[[str], Page]


@pytest.fixture
def login_as(browser: Browser, server: Server) -> Iterator[PageFactory]:  # noqa: F811
    """``login_as(user)``: a page of its own (one browser context per user) logged in as
    ``user``. Every page fails the test on a JavaScript error or a CSP report."""
    contexts = []
    errors: list[str] = []

    def open_page(user: str) -> Page:
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        context.add_init_script(REPORT_CSP)
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(f"{user}: {e}"))

        def on_console(message: ConsoleMessage) -> None:
            if is_csp_report(message.text):
                errors.append(f"{user}: {message.text}")

        pg.on("console", on_console)
        pg.set_default_timeout(20_000)
        pg.goto(server.url + "/")
        pg.get_by_test_id("login-user").fill(user)
        pg.get_by_test_id("login-password").fill(PASSWORD)
        pg.get_by_test_id("login-submit").click()
        expect(pg.get_by_test_id("user-name")).to_have_text(user)
        return pg

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors or CSP reports: {errors}"


def class_item(page: Page, name: str, section: str | None = None) -> Locator:
    scope = page.get_by_test_id(f"classes-{section}") if section else page
    return scope.get_by_test_id("class-item").filter(
        has=page.locator(".class-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def teach_daisy(page: Page, server: Server, name: str) -> None:
    """Search by the query daisy, create ``name`` from the best daisy, mark the first page by
    the true kind of each image, run a Search round."""
    page.get_by_test_id("collection-select").select_option("flowers")
    page.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(15)
    first = next(c for c in cards.all() if kind_of(c) == "daisy")
    first.get_by_test_id("card-more").click()
    page.get_by_test_id("create-class").click()
    page.get_by_test_id("new-class-name").fill(name)
    page.get_by_test_id("new-class-submit").click()
    expect(page.locator("#class-name")).to_have_text(name)
    info = page.get_by_test_id("round-info")
    expect(info).to_contain_text("version 1")
    expect(cards).to_have_count(15)
    for card in cards.all():
        want = "positive" if kind_of(card) == "daisy" else "negative"
        if card.get_by_test_id(f"set-{want}").get_attribute("aria-pressed") != "true":
            card.get_by_test_id(f"set-{want}").click()
            expect(card.get_by_test_id(f"set-{want}")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("mode-search").click()
    expect(info).to_contain_text("version 2")


def test_share_with_a_group_seen_by_its_member_not_by_an_outsider_then_fork(
    server: Server, login_as: PageFactory
) -> None:
    olga = login_as("olga")
    teach_daisy(olga, server, "daisy")
    mine = class_item(olga, "daisy", "mine")
    expect(mine.get_by_test_id("class-visibility")).to_have_text("private")

    # The owner shares it with her institution, for reading.
    olga.get_by_test_id("class-share").click()
    dialog = olga.get_by_test_id("share-dialog")
    expect(dialog).to_be_visible()
    ina = dialog.get_by_test_id("share-group").filter(has_text="ina")
    ina.get_by_test_id("share-group-right").select_option("read")
    expect(dialog.get_by_test_id("share-public")).to_have_value("")
    dialog.get_by_test_id("share-save").click()
    expect(dialog).to_be_hidden()
    expect(mine.get_by_test_id("class-visibility")).to_have_text("ina (read)")
    expect(olga.get_by_test_id("class-bar-visibility")).to_have_text("ina (read)")

    # A member of ina sees it, marked with its owner and her right, and may only read it.
    rita = login_as("rita")
    shared = class_item(rita, "daisy", "shared")
    expect(shared).to_have_count(1)
    expect(shared.get_by_test_id("class-owner")).to_have_text("by olga")
    expect(shared.get_by_test_id("class-right")).to_have_text("read")
    expect(rita.get_by_test_id("classes-mine")).not_to_contain_text("daisy")
    shared.click()
    expect(rita.locator("#class-name")).to_have_text("daisy")
    expect(rita.get_by_test_id("class-bar-right")).to_have_text("read")
    note = rita.get_by_test_id("read-only-note")
    expect(note).to_be_visible()
    expect(note).to_have_attribute("title", re.compile("Read only: olga shares “daisy”"))
    expect(rita.get_by_test_id("next-round")).to_be_disabled()
    expect(rita.get_by_test_id("mode-search")).to_be_disabled()
    expect(rita.locator("#round-controls")).to_have_attribute("title", re.compile("Fork it"))
    expect(rita.get_by_test_id("class-share")).to_be_hidden()
    expect(rita.get_by_test_id("class-rename")).to_be_hidden()
    # Her search grid: the mark buttons are disabled and say why; a key says it too.
    rita.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = rita.get_by_test_id("card")
    expect(cards).to_have_count(15)
    plus = cards.first.get_by_test_id("set-positive")
    expect(plus).to_be_disabled()
    expect(plus).to_have_attribute("title", re.compile("Read only"))
    cards.nth(1).get_by_test_id("card-select").click()
    expect(rita.get_by_test_id("mark-positive")).to_be_disabled()
    cards.first.hover()
    rita.keyboard.press("p")
    expect(rita.get_by_test_id("toast").last).to_contain_text("Read only")
    # A class she may only read is not offered in "Add image to existing class".
    cards.first.get_by_test_id("card-more").click()
    expect(rita.get_by_test_id("card-menu").get_by_test_id("add-to-class")).to_have_count(0)
    rita.keyboard.press("Escape")

    # An outsider (another institution) does not see it, not even by its id.
    otto = login_as("otto")
    expect(otto.get_by_test_id("classes-list")).not_to_contain_text("daisy")
    expect(otto.get_by_test_id("classes-shared")).to_have_count(0)
    cid = shared.get_attribute("data-class-id")
    assert otto.request.get(f"{server.url}/v1/classes/{cid}").status == 404

    # Fork: one click; the copy is hers (Mine), editable, with a link to its origin.
    rita.get_by_test_id("class-fork").click()
    expect(rita.get_by_test_id("toast").last).to_contain_text("Forked olga/daisy")
    fork = class_item(rita, "daisy", "mine")
    expect(fork).to_have_count(1)
    expect(fork.get_by_test_id("class-origin")).to_have_text("↳ forked from olga/daisy")
    expect(fork).to_have_attribute("aria-pressed", "true")
    expect(rita.get_by_test_id("class-counts")).to_have_text(
        olga.get_by_test_id("class-counts").inner_text()
    )
    expect(rita.get_by_test_id("read-only-note")).to_be_hidden()
    expect(rita.locator("#class-origin-slot")).to_have_text("↳ forked from olga/daisy")
    expect(rita.get_by_test_id("next-round")).to_be_enabled()
    rita.get_by_test_id("mode-search").click()
    expect(rita.get_by_test_id("round-info")).to_contain_text("version")
    expect(cards.first.get_by_test_id("set-positive")).to_be_enabled()
    # The origin link shows the class it came from.
    rita.locator("#class-origin-slot").get_by_test_id("class-origin").click()
    expect(shared).to_have_attribute("aria-pressed", "true")
    expect(rita.get_by_test_id("read-only-note")).to_be_visible()

    # Made public, the outsider sees it under Public after a refresh, read only.
    olga.get_by_test_id("class-share").click()
    dialog.get_by_test_id("share-public").select_option("read")
    dialog.get_by_test_id("share-save").click()
    expect(mine.get_by_test_id("class-visibility")).to_have_text("ina (read), public (read)")
    otto.get_by_test_id("classes-refresh").click()
    public = class_item(otto, "daisy", "public")
    expect(public).to_have_count(1)
    expect(public.get_by_test_id("class-access")).to_contain_text("by olga read")
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "sharing.png"))
