"""The operators' and auditors' web page (`GET /`) in a real browser, against `towns serve`.

The demo runs into a fresh SQLite file, `towns serve` serves it on a free port, and Debian's
headless Chromium (driven by selenium through /usr/bin/chromedriver) signs in with a demo token
and clicks through the page. Locally a missing Chromium, chromedriver or selenium skips these
tests; with CI=true it fails them (``tests.conftest.service_missing``). The province's walk ends
with a screenshot in ``artifacts/web-page.png`` (committed), the operator's in
``artifacts/web-page-operator.png``.

The first test needs no browser: the page and its assets, as the Flask app serves them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import service_missing
from tests.e2e.test_serve import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CALL = "GD-ITOWN-2017-B2"
REF = "GZ-2017-001"  # submitted 2017-02-28T16:46:30+08:00, city-verified 2017-03-01T10:10:34+08:00
BEFORE_VERIFICATION = "2017-03-01T09:00:00"

CHROMIUM = os.environ.get("TOWNS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TOWNS_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1366,1000", "--lang=en-GB",  # a common laptop screen
)
WAIT = 20  # seconds for anything the page loads


# -- the page as the app serves it (no browser) ---------------------------------------------


def test_the_page_needs_no_token_and_uses_only_its_own_assets(memory_towns, config):
    from adapters.http import create_app

    client = create_app(memory_towns, config).test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="token-form"' in html and 'id="sign-out"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    settings = json.loads(re.search(r'id="towns-settings">(.*?)</script>', html, re.DOTALL).group(1))
    assert [c["id"] for c in settings["calls"]] == [CALL]
    assert len(settings["jurisdictions"]) == 22 and "lapsed" in settings["statuses"]

    # Every asset the page or a module names is served, with its type, and names no other host.
    pending = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        asset = client.get(path)
        assert asset.status_code == 200, path
        text = asset.get_data(as_text=True)
        asset.close()
        assert not re.search(r"https?://|//cdn|@import", text), path
        if path.endswith(".js"):
            assert asset.mimetype in ("text/javascript", "application/javascript"), path
            base = path.rsplit("/", 1)[0]
            for module in re.findall(r'from "\./([^"]+)"', text):
                pending.append(f"{base}/{module}")
        elif path.endswith(".css"):
            assert asset.mimetype == "text/css", path
    assert {"/assets/style.css", "/assets/js/main.js", "/assets/js/api.js",
            "/assets/js/timeline.js", "/assets/js/queues.js"} <= seen
    assert client.get("/assets/nothing.js").status_code == 404


# -- the demo behind `towns serve` -----------------------------------------------------------


@pytest.fixture(scope="module")
def served(chromium, tmp_path_factory) -> Iterator[str]:
    """`towns serve` on the demo's store, with one dead letter recorded for the operators."""
    folder = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{folder}/towns.db"
    env = {**os.environ, "TOWNS_DATABASE_URL": url}
    for name in ("TOWNS_CONFIG", "TOWNS_AMQP_URL"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "adapters.cli", "demo", "--fresh"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)
    _record_dead_letter(url)
    with logged_serve(env, folder) as base:
        yield base


@contextlib.contextmanager
def logged_serve(env: dict, folder: Path) -> Iterator[str]:
    """``towns serve`` with ``env``, its output in ``folder``/serve.log, healthy: its base URL;
    stopped (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    log = open(folder / "serve.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(process, base, log)
        yield base
    finally:
        stop(process)
        log.close()


def _record_dead_letter(url: str) -> None:
    """A dead letter as the consumer would record one, so the operators' panel has a row."""
    from adapters.bootstrap import build_towns
    from adapters.config import load_config
    from adapters.store.inbound_records import InboundRecords

    towns = build_towns(load_config(), url)
    try:
        InboundRecords(towns).dead_letter(
            "web-page-dead-1", "web-page-dead-1", "unknown_type",
            "unknown event type 'application.archived'",
            json.dumps({"message_id": "web-page-dead-1", "type": "application.archived"}).encode(),
            "province", "application.archived", datetime(2017, 3, 31, 10, 0, tzinfo=UTC),
        )
    finally:
        towns.close()


def _wait_until_healthy(process: subprocess.Popen, base: str, log, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"towns serve exited with {process.returncode}: {log.read()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"towns serve did not answer /healthz within {seconds}s")


def api(base: str, path: str, token: str = "demo-province", **query) -> dict:
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def all_applications(base: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = api(base, "/api/v1/applications", limit=500, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


# -- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> None:
    """selenium, Chromium and chromedriver are there (checked before the demo runs)."""
    try:
        import selenium  # noqa: F401
    except ImportError as error:
        service_missing("selenium (pip install -e '.[test]')", error)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            service_missing("Chromium and chromedriver (apt-get install chromium chromium-driver)",
                            FileNotFoundError(path))


@pytest.fixture
def browser(chromium) -> Iterator:
    """A fresh headless Chromium (its own profile, so its own sessionStorage) per test."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="towns-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        service_missing("headless Chromium", error)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The desk as a test drives it: elements by their ids and data-test attributes."""

    def __init__(self, driver, base: str) -> None:
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base = base
        # an element found while a panel redraws may be replaced before it is read: look again
        self.wait = WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def until(self, condition, message: str):
        return self.wait.until(lambda _: condition(), message)

    def shown(self, css: str):
        return self.until(lambda: next((e for e in self.find_all(css) if e.is_displayed()), None),
                          f"{css} is not shown")

    def open(self) -> None:
        self.driver.get(f"{self.base}/")
        self.shown("#token-form")

    def sign_in(self, token: str) -> None:
        self.find("#token-input").send_keys(token)
        self.find("#token-submit").click()

    def panel_state(self, name: str, state: str) -> None:
        self.until(lambda: self.find(f"#panel-{name}").get_attribute("data-state") == state,
                   f"panel {name} is not {state}: "
                   f"{self.find(f'#panel-{name}').get_attribute('data-state')}")

    def select(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def screenshot(self, name: str) -> Path:
        """The whole page, beyond the window, into artifacts/ (Chromium's DevTools capture)."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)  # smooth scrolling settles
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000),
                     "scale": 1},
        })
        path = ARTIFACTS / name
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def script_errors(self) -> list[str]:
        """Severe browser log lines other than the API's refusals (4xx/5xx resources)."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]


def test_the_province_walks_through_pipeline_applications_timeline_and_deadlines(served, browser):
    page = Page(browser, served)
    page.open()
    assert not page.find("#desk").is_displayed()  # nothing is shown before a token
    page.sign_in("demo-province")

    # The audit verdict and the pipeline, counted from the whole list.
    page.panel_state("audit", "ready")
    assert page.find('[data-test="audit-status"]').get_attribute("data-ok") == "true"
    # beside it the evidence: the demo's last tree head, unsigned (it runs without a key, and
    # says so), and the demo's start recorded as an operator-visible configuration change
    assert "records" in page.find('[data-test="audit-latest-head"]').text
    assert "UNSIGNED" in page.find('[data-test="audit-latest-head"]').text
    assert page.find('[data-test="audit-unsigned"]').is_displayed()
    assert "configuration.changed" in page.find('[data-test="audit-actions"]').text
    applications = all_applications(served)
    page.panel_state("pipeline", "ready")
    assert page.find('[data-test="pipeline-total"]').text == str(len(applications))
    per_city = Counter(item["city"] for item in applications)
    guangzhou = page.find('[data-test="pipeline-row"][data-city="guangzhou"] [data-test="pipeline-row-total"]')
    assert guangzhou.text == str(per_city["guangzhou"])
    approved_gz = sum(1 for i in applications if i["city"] == "guangzhou" and i["status"] == "approved")
    cell = page.find('[data-test="pipeline-cell"][data-city="guangzhou"][data-status="approved"]')
    assert cell.get_attribute("data-count") == str(approved_gz)

    # The applications table: demo rows, paging, and filters.
    page.panel_state("applications", "ready")
    rows = page.find_all('[data-test="app-row"]')
    assert rows and all(re.fullmatch(r"[A-Z]{2}-2017-\d{3}", r.get_attribute("data-ref")) for r in rows)
    page.select("#filter-limit", "25")
    page.find("#filter-apply").click()
    page.until(lambda: len(page.find_all('[data-test="app-row"]')) == 25, "page 1 has not 25 rows")
    first_page = [r.get_attribute("data-ref") for r in page.find_all('[data-test="app-row"]')]
    page.find("#apps-next").click()
    page.until(lambda: page.find("#apps-page").text.startswith("Page 2"), "no page 2")
    second_page = [r.get_attribute("data-ref") for r in page.find_all('[data-test="app-row"]')]
    assert second_page and not set(first_page) & set(second_page)
    assert sorted(first_page + second_page) == first_page + second_page  # (call, ref) order

    page.select("#filter-city", "guangzhou")
    page.select("#filter-status", "approved")
    page.find("#filter-apply").click()
    page.until(lambda: page.find("#apps-page").text.startswith("Page 1")
               and len(page.find_all('[data-test="app-row"]')) == approved_gz, "filters not applied")
    assert {r.get_attribute("data-status") for r in page.find_all('[data-test="app-row"]')} == {"approved"}

    # Its timeline: both times side by side, actor, message id, short hash, chain status.
    page.find(f'[data-test="app-open"][data-ref="{REF}"]').click()
    page.panel_state("timeline", "ready")
    history = api(served, f"/api/v1/applications/{CALL}/{REF}/history")
    events = page.find_all('[data-test="timeline-event"]')
    assert len(events) == len(history["items"]) >= 3
    for row, event in zip(events, history["items"]):
        assert row.get_attribute("data-type") == event["type"]
        occurred = row.find_element("css selector", '[data-test="event-occurred"] time')
        recorded = row.find_element("css selector", '[data-test="event-recorded"] time')
        assert occurred.get_attribute("datetime") == event["occurred_at"]
        assert recorded.get_attribute("datetime") == event["recorded_at"]
        assert event["message_id"] in row.find_element("css selector", '[data-test="event-message-id"]').text
        assert event["hash"][:12] in row.find_element("css selector", '[data-test="event-hash"]').text
        assert event["actor"]["id"] in row.find_element("css selector", '[data-test="event-actor"]').text
    first = events[0]
    assert first.get_attribute("data-type") == "application.submitted"
    assert "2017-02-28 16:46:30" in first.find_element("css selector", '[data-test="event-occurred"]').text
    assert page.find('[data-test="chain-status"]').get_attribute("data-intact") == "true"
    assert page.find('[data-test="chain-status"]').text == "hash chain intact"
    assert page.find('[data-test="state-status"] .badge').text == "approved"
    # and its criteria, clause by clause, as the API answers them
    state = api(served, f"/api/v1/applications/{CALL}/{REF}")
    shown = [(r.get_attribute("data-clause"), r.get_attribute("data-outcome"))
             for r in page.find_all('[data-test="criterion"]')]
    assert shown == [(c["clause"], c["outcome"]) for c in state["criteria"]] and len(shown) == 7

    # As of a business time before the city verified it (typed as ISO, read at +08:00): submitted.
    page.find("#asof-input").send_keys(BEFORE_VERIFICATION)
    page.find("#asof-apply").click()
    status = page.shown('[data-test="asof-status"]')
    assert status.get_attribute("data-status") == "submitted"
    assert page.find('[data-test="point-as-of"]').get_attribute("data-value") == f"{BEFORE_VERIFICATION}+08:00"
    assert page.find('[data-test="state-status"] .badge').text == "submitted"
    dimmed = [r.get_attribute("data-version") for r in page.find_all('[data-test="timeline-event"].after-point')]
    assert dimmed == [str(e["version"]) for e in history["items"][1:]]
    assert page.find('[data-test="state-criteria-none"]').text == "Not evaluated at this point."

    # After version 2 (no business time): verified; before it was submitted: no state at all.
    page.find("#asof-input").clear()
    page.find("#asof-version").send_keys("2")
    page.find("#asof-apply").click()
    page.until(lambda: page.find('[data-test="asof-status"]').get_attribute("data-status") == "city_verified",
               "the state after version 2")
    assert page.find('[data-test="state-version"]').text.split()[-1] == "2"
    page.find("#asof-version").clear()
    page.find("#asof-input").send_keys("2017-01-01T00:00:00.000")
    page.find("#asof-apply").click()
    page.until(lambda: page.find('[data-test="asof-status"]').get_attribute("data-status") == "",
               "no state before the submission")
    assert page.find('[data-test="timeline-state"]').text == ""
    assert len(page.find_all('[data-test="timeline-event"].after-point')) == len(history["items"])

    # The deadline report of the call.
    page.panel_state("deadlines", "ready")
    report = api(served, f"/api/v1/calls/{CALL}/deadline-report")
    rows = page.find_all('[data-test="deadline-row"]')
    assert len(rows) == len(report["items"]) > 0
    expected = {i["application_ref"]: i["outcome"] for i in report["items"]}
    shown = {r.get_attribute("data-ref"): r.get_attribute("data-outcome") for r in rows}
    assert shown == expected and shown[REF] == "on_time"
    assert "lapsed" in shown.values()

    # Operators' data is not the province's: their panels are not shown at all.
    for name in ("queues", "incidents", "charts", "redrives"):
        assert not page.find(f"#panel-{name}").is_displayed()
    assert not page.find("#queues-table").is_displayed()

    browser.execute_script("document.getElementById('panel-timeline').scrollIntoView()")
    path = page.screenshot("web-page.png")
    assert path.stat().st_size > 10_000
    assert page.script_errors() == []

    # Signing out forgets the token and asks again.
    browser.execute_script("window.scrollTo(0, 0)")
    page.find("#sign-out").click()
    page.shown("#token-form")
    assert not page.find("#desk").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('towns.token')") is None


def test_the_operator_sees_the_queues_and_no_application_data(served, browser):
    page = Page(browser, served)
    page.open()
    page.sign_in("demo-operator")

    page.panel_state("queues", "ready")
    assert page.find('[data-test="queues-source"] dd').text in ("AMQP", "RabbitMQ management API")
    projections = {r.get_attribute("data-name") for r in page.find_all('[data-test="projection-row"]')}
    assert {"summaries", "deadline_report"} <= projections
    assert page.find('[data-test="queues-parked"] dd').text == "0"
    letter = page.find('[data-test="deadletter-row"]')
    assert "web-page-dead-1" in letter.text and "unknown_type" in letter.text

    # the panels of application data are not shown to operators at all (nor their links)
    for name in ("pipeline", "applications", "deadlines", "audit"):
        assert not page.find(f"#panel-{name}").is_displayed()
        assert not page.find(f'[data-nav="{name}"]').is_displayed()
    assert not page.find("#apps-table").is_displayed()
    assert page.find_all('[data-test="app-row"]') == []
    assert not page.find("#panel-timeline").is_displayed()

    # Re-drive: confirmed, the page posts the letter's id; this server has no RabbitMQ, and says so.
    letter.find_element("css selector", '[data-test="requeue"]').click()
    page.shown('[data-test="confirm-dialog"]')
    page.find('[data-test="confirm-ok"]').click()
    message = page.shown('[data-test="deadletters-message"]')
    page.until(lambda: "TOWNS_AMQP_URL" in message.text, f"no re-drive answer: {message.text}")
    assert "503" in message.text
    assert letter.find_element("css selector", '[data-test="requeue"]').is_enabled()
    page.screenshot("web-page-operator.png")
    assert page.script_errors() == []


@pytest.mark.parametrize("token, says", [("not-a-token", "401"), ("令牌-province", "printable ASCII")],
                         ids=["refused", "cannot-be-sent"])
def test_a_refused_token_asks_again(served, browser, token, says):
    page = Page(browser, served)
    page.open()
    page.sign_in(token)
    message = page.shown('[data-test="signin-message"]')
    assert says in message.text
    assert not page.find("#desk").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('towns.token')") is None


@pytest.fixture
def page_only(memory_towns, config) -> Iterator[str]:
    """A server with the page and no API areas: every panel's endpoint answers 404."""
    from flask import Flask
    from werkzeug.serving import make_server

    from adapters.http import page
    from adapters.http.context import install
    from adapters.http.errors import register_error_handlers

    app = Flask("towns-page-only")
    install(app, memory_towns, config)
    app.register_blueprint(page.bp)
    register_error_handlers(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_endpoints_a_server_lacks_close_their_panels_with_a_note(page_only, browser):
    page = Page(browser, page_only)
    page.open()
    page.sign_in("demo-province")
    page.shown("#desk")
    for name, path in (("audit", "/api/v1/audit/verify"), ("pipeline", "/api/v1/applications"),
                       ("applications", "/api/v1/applications"),
                       ("deadlines", f"/api/v1/calls/{CALL}/deadline-report"),
                       ("queues", "/api/v1/ops/")):
        page.panel_state(name, "missing")
        note = page.find(f'#panel-{name} [data-test="panel-note"]')
        assert note.is_displayed() and "404" in note.text and path in note.text, note.text
    assert page.find("#session").is_displayed()  # still signed in: a 404 is not a refused token
    assert page.script_errors() == []
