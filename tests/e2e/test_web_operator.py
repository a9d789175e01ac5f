"""The operators' part of the web page in a real browser (headless Chromium, as in
``test_web_page``), against `towns serve` on PostgreSQL with RabbitMQ and a running
`towns consume`:

- each role sees only the panels it may use (``GET /api/v1/session``), none "not available";
- the live panels refresh on their own: the "updated at" stamp moves and new data appears
  without a reload; a pause holds them; a failed refresh marks the panel stale and keeps it;
- a re-drive asks first (naming the message and the count), then follows the message and says
  what really happened: applied, or dead-lettered again with its code;
- a bulk re-drive by code, confirmed with its count, and the re-drive history;
- a bulk re-drive by a filter (code, event type, first seen since/until): the count of what it
  matches before it asks, a bad value refused beside it, and what really happened;
- the incidents (a poison event set aside, dead letters by code) and the charts, with data.

Screenshots of each role's page go to artifacts/<role>.png (the operator's after its re-drives;
the province, a city and an applicant on the demo's data).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture: the broker answers
from tests.e2e.test_web_page import (  # noqa: F401 - fixtures
    Page,
    browser,
    chromium,
    logged_serve,
    served,
)
from tests.factories import envelope
from tests.support import fresh_schema

OPERATOR_PANELS = ("incidents", "charts", "queues", "redrives")
READER_PANELS = ("pipeline", "applications", "deadlines")
WAIT = 40  # seconds: a refresh every 10 s, then the consumer's work


# -- the service: PostgreSQL, RabbitMQ, a consumer and `towns serve` ---------------------------


@pytest.fixture(scope="module")
def operated(chromium, rabbitmq, postgres_url, tmp_path_factory) -> Iterator[dict]:  # noqa: F811
    """`towns serve` with RabbitMQ and a consumer; applications, a poison event set aside,
    a worker failure, and dead letters: one that applies when re-driven, one refused again
    (unknown_type), three of the code schema_invalid."""
    from adapters.bootstrap import build_runtime, build_towns
    from adapters.config import load_config
    from adapters.store.inbound_records import InboundRecords
    from domain.applications import application_id
    from projections.store import ViewStore
    from tests.desk import Desk
    from tests.factories import CALL
    from tests.hostile.test_poison_events import replace_state
    from tests.integration.rabbit import Consumers, own_vhost
    from workers import failures

    folder = tmp_path_factory.mktemp("web-operator")
    config = load_config()
    with fresh_schema(postgres_url) as url, own_vhost("towns-web-ops") as broker:
        towns = build_towns(config, url)
        desk = Desk(towns, config)
        for i in range(6):
            desk.submit(f"SD-WEB-{i:03d}")
        desk.to_recommended("SD-WEB-010")
        desk.submit("SD-WEB-POISON")
        poison = next(n for n in towns.recorder.select_notifications(0, 1000)
                      if n.originator_id == application_id(CALL, "SD-WEB-POISON"))
        views = ViewStore(url)
        replace_state(views, towns, poison.id, b"[" + poison.state[1:])
        views.close()
        records = InboundRecords(towns)
        seen = datetime(2017, 3, 20, 9, 0, tzinfo=UTC)

        def dead(body: dict, code: str, detail: str) -> None:
            records.dead_letter(body["message_id"], body["message_id"], code, detail,
                                json.dumps(body).encode(), "shunde-applicant", body["type"], seen)

        dead(envelope("application.submitted", "SD-WEB-100", message_id="web-fits"),
             "unavailable", "the store did not answer in time")
        dead({**envelope("application.submitted", "SD-WEB-101", message_id="web-again"),
              "type": "application.teleported"}, "unknown_type", "unknown event type 'application.teleported'")
        for i in range(3):
            body = envelope("application.submitted", f"SD-WEB-2{i:02d}", message_id=f"web-bulk-{i}")
            del body["payload"]["town_name"]
            dead(body, "schema_invalid", "payload.town_name: Missing data for required field.")
        towns.close()
        runtime = build_runtime(config, url)  # the views catch up, setting the poison aside
        runtime.drain()
        failures.record(runtime.store, failures.WorkerFailure(
            "web-failure-1", "check_deadline", "towns.deadlines", [CALL, "2017-03-30T23:59:59+08:00"],
            3, "OperationalError: the database went away", datetime.now(UTC).isoformat()))
        runtime.close()

        consumers = Consumers(folder)
        consumers.start(broker.url, url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
        env.update(TOWNS_DATABASE_URL=url, TOWNS_AMQP_URL=broker.url)
        try:
            with logged_serve(env, folder) as base:
                yield {"base": base, "url": url, "poison": poison.id, "config": config}
        finally:
            consumers.close()


def record_letter(operated: dict, key: str, code: str) -> None:
    """One more dead letter, recorded as the consumer would, while the page is open."""
    from adapters.bootstrap import build_towns
    from adapters.store.inbound_records import InboundRecords

    towns = build_towns(operated["config"], operated["url"])
    try:
        body = {**envelope("application.submitted", f"SD-{key}", message_id=key),
                "type": "application.archived"}
        InboundRecords(towns).dead_letter(key, key, code, "recorded while the page was open",
                                          json.dumps(body).encode(), "shunde-applicant",
                                          body["type"], datetime.now(UTC))
    finally:
        towns.close()


def operator_page(browser, operated) -> Page:
    page = Page(browser, operated["base"])
    page.wait._timeout = WAIT
    page.open()
    page.sign_in("demo-operator")
    for name in OPERATOR_PANELS:
        page.panel_state(name, "ready")
    return page


def letter_row(page: Page, message_id: str):
    return page.shown(f'[data-test="deadletter-row"][data-message-id="{message_id}"]')


# -- only the panels a role may use ------------------------------------------------------------


def test_the_operator_sees_only_the_operators_panels(operated, browser):
    page = operator_page(browser, operated)
    for name in OPERATOR_PANELS:
        assert page.find(f"#panel-{name}").is_displayed(), name
        assert page.find(f'[data-nav="{name}"]').is_displayed(), name
    for name in ("audit", *READER_PANELS, "timeline"):
        assert not page.find(f"#panel-{name}").is_displayed(), name
        assert page.find_all(f'[data-nav="{name}"]') == [] or \
            not page.find(f'[data-nav="{name}"]').is_displayed(), name
    assert "Not available" not in page.find("#desk").text
    assert "operator (operator)" in page.find("#session-label").text
    assert page.find('[data-test="refresh-tools"]').is_displayed()
    assert page.script_errors() == []


@pytest.mark.parametrize("role, token, panels", [
    ("province", "demo-province", ("audit", *READER_PANELS)),
    ("city", "demo-guangzhou-city", READER_PANELS),
    ("applicant", "demo-guangzhou-applicant", READER_PANELS),
])
def test_readers_see_only_their_panels(served, browser, role, token, panels):  # noqa: F811
    page = Page(browser, served)
    page.open()
    page.sign_in(token)
    for name in panels:
        page.panel_state(name, "ready")
        assert page.find(f'[data-nav="{name}"]').is_displayed()
    for name in {"audit", *READER_PANELS, *OPERATOR_PANELS} - set(panels):
        assert not page.find(f"#panel-{name}").is_displayed(), name
        assert not page.find(f'[data-nav="{name}"]').is_displayed(), name
    assert "Not available" not in page.find("#desk").text
    # the pipeline is live: it carries its stamp, at +08:00 with UTC in the title
    stamp = page.find('#panel-pipeline [data-test="stamp"]')
    assert stamp.text.startswith("updated at ") and stamp.text.endswith("+08:00")
    assert stamp.get_attribute("title").endswith("UTC")
    path = page.screenshot(f"{role}.png")
    assert path.stat().st_size > 10_000
    assert page.script_errors() == []


# -- auto-refresh ---------------------------------------------------------------------------


def test_the_live_panels_refresh_on_their_own_and_a_pause_holds_them(operated, browser):
    page = operator_page(browser, operated)
    stamp = page.find('#panel-queues [data-test="stamp"]')
    first = stamp.get_attribute("data-at")
    assert stamp.text.startswith("updated at ") and "+08:00" in stamp.text
    assert stamp.get_attribute("title").startswith("updated at ") and stamp.get_attribute("title").endswith("UTC")
    # the stamp moves, and a dead letter recorded meanwhile appears, without a reload
    page.until(lambda: stamp.get_attribute("data-at") != first, "the queues' stamp did not move")
    browser.execute_script("window.__towns_same_page = true")
    record_letter(operated, "web-refresh-1", "forbidden")
    page.shown('[data-test="deadletter-row"][data-message-id="web-refresh-1"]')
    page.until(lambda: page.find_all('[data-test="incident-code"][data-code="forbidden"]'),
               "the incidents did not show the new code")
    assert browser.execute_script("return window.__towns_same_page") is True  # no reload

    # paused, nothing refreshes; resumed, it does at once
    page.find("#refresh-toggle").click()
    assert page.find("#refresh-toggle").text == "Resume"
    assert page.find("#refresh-state").get_attribute("data-paused") == "true"
    time.sleep(2)  # a refresh in flight as it was paused lands
    held = stamp.get_attribute("data-at")
    time.sleep(12)  # longer than the refresh interval
    assert stamp.get_attribute("data-at") == held
    page.find("#refresh-toggle").click()
    assert page.find("#refresh-toggle").text == "Pause"
    page.until(lambda: stamp.get_attribute("data-at") != held, "no refresh after resuming")

    # a refresh that fails keeps the charts and marks them stale
    charts = page.find("#panel-charts")
    assert page.find_all('#panel-charts svg.chart')
    browser.execute_script(
        "const real = window.fetch; window.__towns_fetch = real;"
        "window.fetch = (url, options) => String(url).includes('/api/v1/ops/charts')"
        " ? Promise.reject(new TypeError('offline')) : real(url, options);")
    page.until(lambda: charts.get_attribute("data-stale") == "true", "the charts are not marked stale")
    assert page.find('#panel-charts [data-test="stale"]').is_displayed()
    assert len(page.find_all('#panel-charts svg.chart')) == 3  # still shown, never blank
    assert "refresh failed" in page.find('#panel-charts [data-test="stamp"]').text
    browser.execute_script("window.fetch = window.__towns_fetch")
    page.until(lambda: charts.get_attribute("data-stale") is None, "the charts did not recover")
    assert page.script_errors() == []


# -- re-drive ---------------------------------------------------------------------------------


def test_a_re_drive_asks_first_and_says_what_really_happened(operated, browser):
    page = operator_page(browser, operated)
    row = letter_row(page, "web-fits")
    row.find_element("css selector", '[data-test="requeue"]').click()
    dialog = page.shown('[data-test="confirm-dialog"]')
    assert page.find('[data-test="confirm-count"]').text == "1"
    assert [i.text for i in page.find_all('[data-test="confirm-item"]')] == ["web-fits"]
    # cancelled: nothing is re-driven
    page.find('[data-test="confirm-cancel"]').click()
    page.until(lambda: not dialog.is_displayed(), "the dialog did not close")
    row = letter_row(page, "web-fits")
    assert row.find_element("css selector", '[data-test="requeue"]').text == "Re-drive"
    assert row.find_element("css selector", '[data-test="redrive-result"]').text == ""

    # confirmed: it is followed until the consumer applied it
    row.find_element("css selector", '[data-test="requeue"]').click()
    page.shown('[data-test="confirm-dialog"]')
    page.find('[data-test="confirm-ok"]').click()
    message = page.find('[data-test="deadletters-message"]')
    page.until(lambda: message.get_attribute("data-state") == "applied", f"not applied: {message.text}")
    assert message.text == "web-fits: applied."

    # one that is refused again says so, with its code and detail
    row = letter_row(page, "web-again")
    row.find_element("css selector", '[data-test="requeue"]').click()
    page.shown('[data-test="confirm-dialog"]')
    assert [i.text for i in page.find_all('[data-test="confirm-item"]')] == ["web-again"]
    page.find('[data-test="confirm-ok"]').click()
    page.until(lambda: message.get_attribute("data-state") == "dead_lettered_again",
               f"not dead-lettered again: {message.text}")
    assert message.text.startswith("web-again: dead-lettered again: unknown_type unknown event type")
    # the letter is open again, its row saying what its last re-drive came to
    again = page.shown('[data-test="deadletter-row"][data-message-id="web-again"] '
                       '[data-test="redrive-result"][data-state="dead_lettered_again"]')
    assert "unknown_type" in again.text
    # and the history says who re-drove what, and the result
    page.until(lambda: [r.get_attribute("data-state") for r in page.find_all(
        '[data-test="redrive-row"] [data-test="redrive-letter"]')] == ["dead_lettered_again", "applied"],
        "the history does not show both re-drives with their results")
    rows = page.find_all('[data-test="redrive-row"]')
    assert rows[0].find_element("css selector", '[data-test="redrive-by"]').text == "operator"
    assert rows[0].find_element("css selector", '[data-test="redrive-letter"]').get_attribute("data-state") == "dead_lettered_again"
    assert rows[1].find_element("css selector", '[data-test="redrive-letter"]').get_attribute("data-state") == "applied"
    assert page.script_errors() == []


def test_a_bulk_re_drive_by_code_confirms_the_count(operated, browser):
    page = operator_page(browser, operated)
    page.until(lambda: page.find_all('#bulk-code option[value="schema_invalid"]'), "no code to choose")
    # chosen as a person would; the options are redrawn by each refresh, the choice kept
    browser.execute_script(
        "const s = arguments[0]; s.value = 'schema_invalid';"
        "s.dispatchEvent(new Event('change', {bubbles: true}));", page.find("#bulk-code"))
    page.find('[data-test="bulk-redrive"]').click()
    page.shown('[data-test="confirm-dialog"]')
    assert page.find('[data-test="confirm-count"]').text == "3"
    assert sorted(i.text for i in page.find_all('[data-test="confirm-item"]')) == [
        "web-bulk-0", "web-bulk-1", "web-bulk-2"]
    page.find('[data-test="confirm-ok"]').click()
    message = page.find('[data-test="deadletters-message"]')
    page.until(lambda: message.get_attribute("data-state") == "done", f"no result: {message.text}")
    assert message.text.startswith("Re-drove 3: 3 dead lettered again")
    assert "web-bulk-0: schema_invalid" in message.text
    page.until(lambda: "with code schema_invalid" in page.find('[data-test="redrive-row"]').text,
               "the history does not show the bulk re-drive first")
    assert "3 dead lettered again" in page.find('[data-test="redrive-row"]').text
    assert page.script_errors() == []


def record_refused(operated: dict, key: str, code: str, routing_key: str, seen: str) -> None:
    """A dead letter of a submission to a call that does not exist (refused again as
    unknown_call when re-driven), recorded with these attributes."""
    from adapters.bootstrap import build_towns
    from adapters.store.inbound_records import InboundRecords

    towns = build_towns(operated["config"], operated["url"])
    try:
        body = {**envelope("application.submitted", f"SD-{key}", message_id=key), "call_id": "NO-SUCH-CALL"}
        InboundRecords(towns).dead_letter(key, key, code, "recorded for the filter", json.dumps(body).encode(),
                                          "shunde-applicant", routing_key, datetime.fromisoformat(seen))
    finally:
        towns.close()


def test_a_filtered_bulk_re_drive_shows_its_count_before_it_asks(operated, browser):
    # Given two letters that match a filter, and one beside it for each of three criteria
    for key in ("web-flt-0", "web-flt-1"):
        record_refused(operated, key, "precondition_failed", "application.submitted", "2017-03-21T10:00:00+08:00")
    record_refused(operated, "web-flt-late", "precondition_failed", "application.submitted", "2017-03-25T10:00:00+08:00")
    record_refused(operated, "web-flt-type", "precondition_failed", "application.returned", "2017-03-21T10:00:00+08:00")
    record_refused(operated, "web-flt-code", "deadline_passed", "application.submitted", "2017-03-21T10:00:00+08:00")
    page = operator_page(browser, operated)
    page.until(lambda: page.find_all('#bulk-code option[value="precondition_failed"]'), "no code to choose")
    count = page.find('[data-test="bulk-count"]')

    # a value the server refuses is said beside the count, and a re-drive with it asks nothing
    page.find('[data-test="bulk-since"]').send_keys("last tuesday")
    page.until(lambda: count.get_attribute("data-state") == "invalid", f"not refused: {count.text}")
    assert "since" in count.text and "ISO 8601" in count.text
    page.find('[data-test="bulk-redrive"]').click()
    message = page.find('[data-test="deadletters-message"]')
    page.until(lambda: message.get_attribute("data-state") == "invalid", f"not refused: {message.text}")
    assert message.text.startswith("Not a valid filter: since:")
    assert not page.find('[data-test="confirm-dialog"]').is_displayed()

    # a code, an event type and a range of first sight: the count of what matches, before anything
    page.find('[data-test="bulk-since"]').clear()
    page.find('[data-test="bulk-since"]').send_keys("2017-03-21T00:00:00+08:00")
    page.find('[data-test="bulk-until"]').send_keys("2017-03-22T00:00:00+08:00")
    page.find('[data-test="bulk-type"]').send_keys("application.submitted")
    page.until(lambda: count.get_attribute("data-state") == "counted", f"no count: {count.text}")
    assert count.text == "3 open letters match"  # no code yet: web-flt-code too
    browser.execute_script(
        "const s = arguments[0]; s.value = 'precondition_failed';"
        "s.dispatchEvent(new Event('change', {bubbles: true}));", page.find("#bulk-code"))
    page.until(lambda: count.get_attribute("data-count") == "2", f"not two: {count.text}")
    assert count.text == "2 open letters match"

    # asked first, with the count and the letters; cancelled, nothing moves
    page.find('[data-test="bulk-redrive"]').click()
    dialog = page.shown('[data-test="confirm-dialog"]')
    assert page.find('[data-test="confirm-count"]').text == "2"
    assert [i.text for i in page.find_all('[data-test="confirm-item"]')] == ["web-flt-0", "web-flt-1"]
    assert "code precondition_failed, type application.submitted" in page.find("#confirm-title").text
    page.find('[data-test="confirm-cancel"]').click()
    page.until(lambda: not dialog.is_displayed(), "the dialog did not close")
    assert count.get_attribute("data-count") == "2"

    # confirmed: the two are re-driven and followed to what really happened
    page.find('[data-test="bulk-redrive"]').click()
    page.shown('[data-test="confirm-dialog"]')
    page.find('[data-test="confirm-ok"]').click()
    page.until(lambda: message.get_attribute("data-state") == "done", f"no result: {message.text}")
    assert message.text.startswith("Re-drove 2: 2 dead lettered again")
    assert "web-flt-0: unknown_call" in message.text and "web-flt-1: unknown_call" in message.text
    page.until(lambda: "with code precondition_failed, type application.submitted, first seen since"
               in page.find('[data-test="redrive-row"]').text, "the history does not show the filter")
    # the letters beside the filter are still there, never re-driven
    for key in ("web-flt-late", "web-flt-type", "web-flt-code"):
        row = letter_row(page, key)
        assert row.find_element("css selector", '[data-test="redrive-result"]').text == "", key
    page.until(lambda: count.get_attribute("data-count") == "0", f"still matching: {count.text}")
    assert page.script_errors() == []


# -- incidents and charts ---------------------------------------------------------------------


def test_the_incidents_show_the_poison_event_and_dead_letter_codes(operated, browser):
    page = operator_page(browser, operated)
    aside = page.find_all('[data-test="incident-set-aside"]')
    assert aside and {a.get_attribute("data-position") for a in aside} == {str(operated["poison"])}
    assert {a.get_attribute("data-name") for a in aside} == {"summaries", "deadline_report", "audit", "pipeline"}
    assert "JSONDecodeError" in aside[0].text
    codes = {c.get_attribute("data-code"): c.get_attribute("data-count")
             for c in page.find_all('[data-test="incident-code"]')}
    assert codes.get("unknown_type") == "1" and codes.get("schema_invalid") == "3"
    failure = page.find('[data-test="incident-failure"]')
    assert failure.get_attribute("data-actor") == "check_deadline" and "database went away" in failure.text
    assert int(page.find('[data-test="incidents-count"]').get_attribute("data-count")) > 0
    assert page.script_errors() == []


def test_the_charts_are_drawn_with_the_last_hours_data(operated, browser):
    page = operator_page(browser, operated)
    ingest = page.find('[data-test="chart-ingest"]')
    assert int(ingest.get_attribute("data-total")) >= 7
    assert ingest.find_elements("css selector", "rect.bar")
    refusals = page.find('[data-test="chart-refusals"]')
    assert int(refusals.get_attribute("data-total")) >= 5
    assert refusals.find_elements("css selector", "rect.bar")
    lag = page.find('[data-test="chart-lag"]')
    assert lag.get_attribute("data-series") == "4"
    assert len(lag.find_elements("css selector", "circle")) >= 4
    # everything the operator did shows in the page's picture
    path = page.screenshot("operator.png")
    assert path.stat().st_size > 10_000
    assert page.script_errors() == []
