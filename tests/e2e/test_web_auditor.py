"""The auditors' part of the web page in a real browser: "what did the service know about
application X on date D, and was its deadline met?" from a link or in at most three actions.

The search by reference in the top bar, the link ``#/app/CALL/REF?as_of=…&known_at=…`` that opens
an application at a point (both times applied together) and follows every change of the point,
clicking an event to stand just after it, the deadline answer at the point, every time shown at
+08:00 with its UTC in the title, and a timeline that fits a 1,366-pixel screen. Same server and
browser as ``test_web_page`` (the demo behind ``towns serve``, Debian's headless Chromium); the
auditor's view is saved to ``artifacts/auditor.png``.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.e2e.test_web_page import (  # noqa: F401 - fixtures, used by name
    ARTIFACTS,
    CALL,
    REF,
    Page,
    api,
    browser,
    chromium,
    served,
)

CST = timezone(timedelta(hours=8))
TOKEN = "demo-auditor"


def sign_in(browser, served: str, hash_: str = "") -> Page:
    page = Page(browser, served)
    browser.get(f"{served}/{hash_}")
    page.shown("#token-form")
    page.sign_in(TOKEN)
    page.shown("#desk")
    return page


def at_cst(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(CST)


def link(ref: str, **point: str) -> str:
    query = "&".join(f"{k}={urllib.parse.quote(v, safe=':')}" for k, v in point.items())
    return f"#/app/{CALL}/{urllib.parse.quote(ref, safe='')}" + (f"?{query}" if query else "")


def utc_title(iso: str) -> str:
    """The title the page gives an instant: its UTC, to the digit it was given."""
    fraction = re.search(r"T\d{2}:\d{2}:\d{2}(\.\d+)?", iso).group(1) or ""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + fraction + " UTC"


def location_hash(browser) -> str:
    return urllib.parse.unquote(browser.execute_script("return location.hash"))


def timeline_of(page: Page, ref: str) -> None:
    page.panel_state("timeline", "ready")
    page.until(lambda: page.find('[data-test="timeline-ref"]').text == f"{ref} · {CALL}",
               f"the timeline of {ref} is not open")
    page.until(lambda: page.find_all('[data-test="timeline-event"]'), "no events shown")


def status_at_point(page: Page) -> str:
    return page.shown('[data-test="asof-status"]').get_attribute("data-status")


def wait_status(page: Page, status: str, what: str) -> None:
    page.until(lambda: next((e.get_attribute("data-status") == status
                             for e in page.find_all('[data-test="asof-status"]') if e.is_displayed()),
                            False), f"{what}: not {status}")


def test_a_reference_typed_in_the_top_bar_opens_its_timeline(served, browser):
    browser.set_window_size(1366, 768)
    ARTIFACTS.mkdir(exist_ok=True)
    page = sign_in(browser, served)
    search = page.shown('[data-test="ref-search-input"]')

    # The exact reference, then Enter: its timeline, and the address bar names it.
    search.send_keys(REF + "\n")
    timeline_of(page, REF)
    assert location_hash(browser) == f"#/app/{CALL}/{REF}"
    assert not page.find('[data-test="ref-search-result"]').is_displayed()

    # A beginning of references, in lower case: the ones it starts, to choose from.
    guangzhou = [i["application_ref"] for i in
                 api(served, "/api/v1/applications", TOKEN, ref_prefix="GZ-2017-00", limit=20)["items"]]
    assert len(guangzhou) > 1
    search.clear()
    search.send_keys("gz-2017-00\n")
    page.until(lambda: len(page.find_all('[data-test="ref-search-candidate"]')) == min(len(guangzhou), 10),
               "no candidates offered")
    assert [c.get_attribute("data-ref") for c in page.find_all('[data-test="ref-search-candidate"]')] == guangzhou[:10]
    browser.execute_script("window.scrollTo({top: 0, behavior: 'instant'})")
    page.until(lambda: browser.execute_script("return window.scrollY") == 0, "the page is not at its top")
    browser.save_screenshot(str(ARTIFACTS / "auditor-search.png"))  # the top bar and its choices
    other = guangzhou[-1]
    page.find(f'[data-test="ref-search-candidate"][data-ref="{other}"]').click()
    timeline_of(page, other)
    assert location_hash(browser) == f"#/app/{CALL}/{other}"

    # Nothing by that reference: said plainly, and the open timeline stays as it was.
    search.clear()
    search.send_keys("ZZ-2099-404\n")
    message = page.shown('[data-test="ref-search-none"]')
    assert "No application “ZZ-2099-404”" in message.text and CALL in message.text
    assert page.find('[data-test="timeline-ref"]').text == f"{other} · {CALL}"
    assert page.script_errors() == []


def test_a_link_opens_the_application_at_both_points_and_follows_the_point(served, browser):
    history = api(served, f"/api/v1/applications/{CALL}/{REF}/history", TOKEN)["items"]
    verified = next(e for e in history if e["type"] == "application.city_verified")
    submitted = history[0]
    # As of long after every business time but as known when the verification was recorded:
    # the service knew the submission and the verification only.
    point = {"as_of": "2017-12-31", "known_at": at_cst(verified["recorded_at"]).isoformat()}
    expected = api(served, f"/api/v1/applications/{CALL}/{REF}", TOKEN,
                   as_of="2017-12-31T23:59:59.999999+08:00", known_at=point["known_at"])
    assert expected["status"] == "city_verified"

    page = sign_in(browser, served, link(REF, **point))  # the link survives the sign-in
    timeline_of(page, REF)
    wait_status(page, "city_verified", "the state at the link's point")
    assert page.find('[data-test="state-status"] .badge').text == "city verified"
    assert page.find('[data-test="state-version"]').text.split()[-1] == str(expected["version"])
    assert page.find('[data-test="point-as-of"]').get_attribute("data-value") == "2017-12-31T23:59:59.999999+08:00"
    assert page.find('[data-test="point-known-at"]').get_attribute("data-value") == point["known_at"]
    counted = {r.get_attribute("data-version") for r in page.find_all('[data-test="timeline-event"]:not(.after-point)')}
    assert counted == {str(v) for v in expected["counted_versions"]}
    # both points are in the controls, as typed-in ISO text at +08:00
    assert page.find("#asof-input").get_attribute("value") == "2017-12-31T23:59:59.999999"
    assert page.find("#knownat-input").get_attribute("value") == point["known_at"][:-6]

    # Another business time, the same record time, through the controls: only the submission
    # had happened by then; the address bar follows.
    before = at_cst(verified["occurred_at"]) - timedelta(minutes=1)
    typed = before.strftime("%Y-%m-%dT%H:%M")
    page.find("#asof-input").clear()
    page.find("#asof-input").send_keys(typed + "\n")
    wait_status(page, "submitted", "as of a minute before the verification")
    assert location_hash(browser) == (f"#/app/{CALL}/{REF}?as_of={typed}:00+08:00"
                                      f"&known_at={point['known_at']}")
    assert [r.get_attribute("data-version") for r in page.find_all('[data-test="timeline-event"]:not(.after-point)')] \
        == [str(submitted["version"])]

    # The address bar edited by hand: the page follows it.
    browser.execute_script("location.hash = arguments[0]", link(REF))
    page.until(lambda: not page.find("#asof-result").is_displayed(), "the point is not cleared")
    assert page.find('[data-test="state-status"] .badge').text == "approved"
    assert page.find("#asof-input").get_attribute("value") == ""

    # "Copy link" hands over the link to what is on screen.
    page.find('[data-test="copy-link"]').click()
    copied = page.shown('[data-test="copy-status"]')
    assert copied.get_attribute("data-link") == browser.current_url
    assert page.script_errors() == []


def test_the_deadline_answer_follows_the_point(served, browser):
    report = api(served, f"/api/v1/calls/{CALL}/deadline-report", TOKEN)
    ref = next(i["application_ref"] for i in report["items"] if i["outcome"] == "reinstated")
    history = api(served, f"/api/v1/applications/{CALL}/{ref}/history", TOKEN)["items"]
    lapse = next(e for e in history if e["type"] == "application.lapsed")

    page = sign_in(browser, served, link(ref))
    timeline_of(page, ref)
    answer = page.shown('[data-test="deadline-answer"]')
    page.until(lambda: answer.get_attribute("data-outcome") == "reinstated", "the answer now")
    assert page.find('[data-test="deadline-verdict"]').text == "Yes"
    assert "reinstated" in answer.text and "Deadline met?" in answer.get_attribute("textContent")

    # As the service knew it when it recorded the lapse: missed.
    known = at_cst(lapse["recorded_at"]).isoformat()
    browser.execute_script("location.hash = arguments[0]", link(ref, known_at=known))
    page.until(lambda: page.find('[data-test="deadline-answer"]').get_attribute("data-outcome") == "lapsed",
               "the answer as known at the lapse")
    assert page.find('[data-test="deadline-verdict"]').text == "No"
    assert "Deadline met at this point?" in page.find('[data-test="deadline-answer"]').get_attribute("textContent")
    wait_status(page, "lapsed", "as known at the lapse")

    # As of a business time before the check was due: not known yet.
    browser.execute_script("location.hash = arguments[0]", link(ref, as_of="2017-03-20"))
    page.until(lambda: page.find('[data-test="deadline-answer"]').get_attribute("data-outcome") == "pending",
               "the answer before the check")
    assert page.find('[data-test="deadline-verdict"]').text == "Not yet known"
    assert page.script_errors() == []


@pytest.mark.parametrize("hash_, says", [
    ("#/app/", "does not name an application"),
    (f"#/app/{CALL}", "does not name an application"),
    ("#/app/%E0%A4%A/X", "not valid percent-encoded"),
    (f"#/app/{CALL}/ZZ-2099-404", "No application “ZZ-2099-404”"),
], ids=["no-call", "no-ref", "bad-encoding", "unknown-ref"])
def test_a_link_that_names_no_application_says_so(served, browser, hash_, says):
    page = sign_in(browser, served, hash_)
    page.panel_state("timeline", "error")
    note = page.find('#panel-timeline [data-test="panel-note"]')
    assert note.is_displayed() and says in note.text, note.text
    assert page.find("#panel-applications").get_attribute("data-state") in ("loading", "ready")
    assert page.script_errors() == []


def test_a_link_with_a_bad_point_opens_the_application_and_says_what_is_wrong(served, browser):
    page = sign_in(browser, served, f"#/app/{CALL}/{REF}?as_of=yesterday&known_at=2017-02-30&version=0")
    timeline_of(page, REF)
    error = page.shown('[data-test="asof-error"]')
    for words in ('"yesterday" is not a date and time', "2017-02-30 is not a date of the calendar",
                  'version: "0" is not a whole number'):
        assert words in error.text, error.text
    assert page.find('[data-test="state-status"] .badge').text == "approved"  # shown as it stands

    # A bad time typed in the controls: a message, no request, the state unchanged.
    page.find("#asof-input").send_keys("03/01/2017 9:00 AM\n")
    page.until(lambda: "write YYYY-MM-DD or YYYY-MM-DDTHH:MM" in page.find('[data-test="asof-error"]').text,
               "no message for a time in another format")
    assert page.find("#asof-input").get_attribute("aria-invalid") is not None
    assert not page.find("#asof-result").is_displayed()
    assert page.script_errors() == []


def test_clicking_an_event_stands_just_after_it_and_updates_the_link(served, browser):
    history = api(served, f"/api/v1/applications/{CALL}/{REF}/history", TOKEN)["items"]
    event = history[1]
    page = sign_in(browser, served, link(REF))
    timeline_of(page, REF)
    row = page.find(f'[data-test="timeline-event"][data-version="{event["version"]}"]')
    row.find_element("css selector", "td.num").click()
    wait_status(page, "city_verified", "just after the verification")
    assert "at-point" in row.get_attribute("class")
    as_of, known_at = at_cst(event["occurred_at"]).isoformat(), at_cst(event["recorded_at"]).isoformat()
    assert location_hash(browser) == f"#/app/{CALL}/{REF}?as_of={as_of}&known_at={known_at}"
    expected = api(served, f"/api/v1/applications/{CALL}/{REF}", TOKEN, as_of=as_of, known_at=known_at)
    counted = [r.get_attribute("data-version") for r in page.find_all('[data-test="timeline-event"]:not(.after-point)')]
    assert counted == [str(v) for v in expected["counted_versions"]] and len(counted) == event["version"]
    assert page.find("#asof-input").get_attribute("value") == as_of[:-6]

    # "Now" leaves the point: the link names the application only.
    page.find("#asof-clear").click()
    page.until(lambda: location_hash(browser) == f"#/app/{CALL}/{REF}", "the link still has a point")
    assert page.find_all('[data-test="timeline-event"].after-point') == []
    assert page.script_errors() == []


def test_every_time_is_shown_at_plus_eight_with_utc_on_hover_and_the_timeline_fits_1366(served, browser):
    browser.set_window_size(1366, 768)
    page = sign_in(browser, served)
    page.panel_state("applications", "ready")
    page.find('[data-test="ref-search-input"]').send_keys(REF + "\n")
    timeline_of(page, REF)
    page.panel_state("audit", "ready")
    history = api(served, f"/api/v1/applications/{CALL}/{REF}/history", TOKEN)["items"]

    for row, event in zip(page.find_all('[data-test="timeline-event"]'), history):
        for cell, field in (("event-occurred", "occurred_at"), ("event-recorded", "recorded_at")):
            shown = row.find_element("css selector", f'[data-test="{cell}"] time')
            when = datetime.fromisoformat(event[field])
            local = when.astimezone(CST)
            assert shown.text.startswith(local.strftime("%Y-%m-%d %H:%M:%S")), (shown.text, event[field])
            assert shown.text.endswith("+08:00")
            utc = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            assert shown.get_attribute("title").startswith(utc) and shown.get_attribute("title").endswith("UTC")
    # every time on the page, whichever panel shows it
    times = [t for t in page.find_all("time") if t.is_displayed() or t.get_attribute("textContent")]
    assert len(times) > len(history) * 2
    for element in times:
        text = element.get_attribute("textContent")
        assert text.endswith(" +08:00"), text
        instant = datetime.fromisoformat(element.get_attribute("datetime"))
        assert text.startswith(instant.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")), text
        assert element.get_attribute("title") == utc_title(element.get_attribute("datetime")), text

    # The timeline fits: no horizontal scroll, no cut hash, actors on one line.
    assert browser.execute_script("return window.innerWidth") <= 1366
    table = page.find("#timeline-table")
    widths = browser.execute_script(
        "const t = arguments[0], box = t.parentElement;"
        "return [t.scrollWidth, t.clientWidth, box.scrollWidth, box.clientWidth];", table)
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    for cell in page.find_all('[data-test="event-hash"]'):
        assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", cell)
        assert len(cell.find_element("css selector", "code").get_attribute("title")) == 64
    for cell in page.find_all('[data-test="event-actor"]'):
        assert browser.execute_script("return getComputedStyle(arguments[0]).whiteSpace", cell) == "nowrap"
        assert cell.get_attribute("title")

    # The auditor's view, for a person to look at.
    row = page.find('[data-test="timeline-event"][data-version="2"]')
    row.find_element("css selector", "td.num").click()
    wait_status(page, "city_verified", "just after the verification")
    ARTIFACTS.mkdir(exist_ok=True)
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(browser).move_to_element(page.find('[data-test="timeline-ref"]')).perform()  # no row hovered
    browser.execute_script("document.getElementById('panel-timeline').scrollIntoView()")
    rect = browser.execute_script(
        "const r = document.getElementById('panel-timeline').getBoundingClientRect();"
        "return {y: r.top + window.scrollY, height: r.height};")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": max(rect["y"] - 12, 0), "width": 1366, "height": rect["height"] + 24, "scale": 1},
    })
    path = ARTIFACTS / "auditor.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000
    assert page.script_errors() == []
