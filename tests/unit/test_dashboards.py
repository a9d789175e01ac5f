"""The Grafana dashboard (deploy/grafana/towns.json) and the Prometheus rules
(deploy/prometheus/alerts.yml) ask only for metrics the service serves: every metric named in
their PromQL is one that ``GET /metrics`` answers, read from the live registry of a service
built in this process (its projections, in-process workers and dramatiq's middleware included),
so a metric renamed or removed fails here, and a metric added is known without a list. The
labels their selectors test and group by are ones those metrics carry (a label renamed would
otherwise leave a panel empty and an alert silent, with no error anywhere)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from adapters.bootstrap import build_runtime
from adapters.http import create_app

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy" / "grafana" / "towns.json").read_text(encoding="utf-8"))
ALERTS = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
PROMETHEUS = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))

NOT_METRICS = {
    # aggregations, functions and keywords of PromQL that may stand without "(" after them
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
    "group_right", "inf", "nan",
    "up",  # Prometheus' own, one per scrape target
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gauge": ("",),
    "unknown": ("",),
}


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    return [rule for group in ALERTS["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: every identifier that is not called as a
    function, once strings, label matchers, ranges and label lists are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = re.finditer(r"(?<![\w:$.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", text)
    return {m[1] for m in found if m[1].lower() not in NOT_METRICS}


def served_names(exposition: str) -> set[str]:
    """Every sample name the exposition can carry, also for a family that has no sample yet (a
    labelled counter before its first count)."""
    return {family.name + suffix
            for family in text_string_to_metric_families(exposition)
            for suffix in SUFFIXES.get(family.type, ("",))}


def served_labels(exposition: str) -> dict[str, set[str]]:
    """The label names each sample name can carry: those of its samples in the exposition, and
    for this process's own metrics those they are declared with (a labelled counter before its
    first count has no sample to show them)."""
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    for collector, names in list(REGISTRY._collector_to_names.items()):  # noqa: SLF001
        declared = set(getattr(collector, "_labelnames", ()))
        for name in names:
            labels.setdefault(name, set()).update(declared)
    return labels


def selected_labels(expr: str) -> list[tuple[str, set[str]]]:
    """Each selector of an expression with the label names its matchers test."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return [(m[1], set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", m[2])))
            for m in re.finditer(r"(?<![\w:])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", text)]


@pytest.fixture(scope="module")
def exposition(tmp_path_factory, config) -> Iterator[str]:
    """What ``GET /metrics`` of a service built here answers, with its store up."""
    runtime = build_runtime(config, f"sqlite:///{tmp_path_factory.mktemp('metrics')}/towns.db")
    try:
        client = create_app(runtime.towns, config, runtime.runner).test_client()
        answer = client.get("/metrics")
        assert answer.status_code == 200
        yield answer.get_data(as_text=True)
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def served(exposition) -> set[str]:
    return served_names(exposition)


def test_the_extractor_finds_the_metrics_of_an_expression():
    assert metric_names(
        'sum by (code, le) (rate(towns_a_total{outcome="refused", x=~"y(z)"}[$__rate_interval]))'
        " / on (job) group_left (instance) towns_b == 0 or absent(towns_c) and up{job=\"j\"}"
        " unless histogram_quantile(0.5, towns_d_bucket) offset 5m > bool 1e3"
    ) == {"towns_a_total", "towns_b", "towns_c", "towns_d_bucket"}


def test_the_registry_is_read_live(served):
    assert {"towns_ingest_messages_total", "towns_consumer_commit_seconds_bucket",
            "towns_store_up", "towns_projection_lag"} <= served


def test_every_dashboard_expression_names_only_served_metrics(served):
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        assert metric_names(expr) <= served, (expr, metric_names(expr) - served)


def test_every_alert_expression_names_only_served_metrics(served):
    rules = alert_rules()
    assert rules
    for rule in rules:
        assert metric_names(rule["expr"]) <= served, (rule["alert"], metric_names(rule["expr"]) - served)


def test_the_dashboard_shows_what_operators_watch():
    named = set().union(*map(metric_names, dashboard_exprs()))
    assert {
        "towns_ingest_messages_total",  # ingest rate by outcome, refusals by code
        "towns_projection_lag", "towns_dead_letters_open", "towns_parked_messages",
        "towns_store_up", "towns_consumer_batch_size_bucket", "towns_consumer_commit_seconds_bucket",
        "towns_deadline_checks_total",
    } <= named
    exprs = " ".join(dashboard_exprs())
    assert "sum by (outcome)" in exprs and "sum by (code)" in exprs
    assert len({panel["id"] for panel in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


def test_the_alerts_cover_lag_dead_letters_consumer_deadline_and_store():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    lag = rules["TownsProjectionLagGrowing"]
    assert "towns_projection_lag" in metric_names(lag["expr"]) and lag["for"] == "10m"
    assert "towns_dead_letters_open" in metric_names(rules["TownsDeadLettersArriving"]["expr"])
    consumer = rules["TownsConsumerDown"]["expr"]
    assert 'up{job="towns-consume"} == 0' in consumer and 'absent(up{job="towns-consume"})' in consumer
    assert 'actor_name="check_deadline"' in rules["TownsDeadlineCheckFailed"]["expr"]
    assert "towns_store_up" in metric_names(rules["TownsStoreDown"]["expr"])
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_the_jobs_the_rules_and_the_dashboard_name_are_scraped():
    jobs = {job["job_name"] for job in PROMETHEUS["scrape_configs"]}
    assert jobs == {"towns-serve", "towns-consume", "towns-worker"}
    assert PROMETHEUS["rule_files"] == ["alerts.yml"]
    text = " ".join(dashboard_exprs() + [rule["expr"] for rule in alert_rules()])
    assert set(re.findall(r'job="([^"]+)"', text)) <= jobs


SCRAPE_LABELS = {"job", "instance"}
"""Labels Prometheus adds to every sample it scrapes."""


def test_the_extractor_finds_the_labels_a_selector_tests():
    assert selected_labels('rate(a_total{code="x", le=~"1|2"}[5m]) / b{job!="j"} + c') == [
        ("a_total", {"code", "le"}), ("b", {"job"})]


def test_every_selector_tests_only_labels_its_metric_carries(exposition):
    labels = served_labels(exposition)
    assert "actor_name" in labels["dramatiq_message_errors_total"]
    exprs = dashboard_exprs() + [rule["expr"] for rule in alert_rules()]
    for expr in exprs:
        for name, tested in selected_labels(expr):
            if name == "up":
                assert tested <= SCRAPE_LABELS, expr
                continue
            assert tested - SCRAPE_LABELS <= labels[name], (expr, name, tested - labels[name])


def test_every_grouping_names_labels_its_metrics_carry(exposition):
    labels = served_labels(exposition)
    for expr in dashboard_exprs() + [rule["expr"] for rule in alert_rules()]:
        carried = set().union(SCRAPE_LABELS, *(labels.get(n, set()) for n in metric_names(expr)))
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
            named = {label.strip() for label in group.split(",") if label.strip()}
            assert named <= carried, (expr, named - carried)
