"""Queries of the read models behind the lists: application summaries, paged by keyset over
(call_id, application_ref), and the deadline report of a call. Reads answer from the read models
as they stand; nothing here catches them up."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from projections.applications import DeadlineReport, Summaries
from projections.store import ViewStore

SUMMARIES = Summaries().live_names()["application_summaries"]
REPORT = DeadlineReport().live_names()["deadline_report"]
REPORT_CHECKS = DeadlineReport().live_names()["checks"]

_SUMMARY_COLUMNS = ("app_id", "call_id", "application_ref", "town_name", "city", "region",
                    "track", "status", "version", "criteria_outcome", "score", "updated_at",
                    "recorded_at", "deadline_outcome", "state")
_FILTERS = ("call_id", "status", "city", "track")


@dataclass(frozen=True)
class Page:
    items: list[dict]
    last: tuple[str, str] | None  # the key to go on after; None on the last page


def summaries(store: ViewStore, filters: dict[str, str | None], after: tuple[str, str] | None,
              limit: int, keep: Callable[[Iterable[str]], set[str]] | None = None) -> Page:
    """Up to ``limit`` summaries matching ``filters`` (column → value; None: any; ``ref_prefix``:
    the reference starts with it), after the key
    ``after``, in key order. ``keep`` narrows each batch of app ids further (an applicant's own):
    batches are read until the page is full or the table ends."""
    found: list[dict] = []
    key = after
    while len(found) <= limit:
        wanted = limit + 1 - len(found)  # one more than the page: is there a next page?
        batch = _summary_rows(store, filters, key, wanted)
        kept = keep([r["app_id"] for r in batch]) if keep and batch else None
        found += [r for r in batch if kept is None or r["app_id"] in kept]
        if len(batch) < wanted:
            break  # the end of the table
        key = (batch[-1]["call_id"], batch[-1]["application_ref"])
    page = found[:limit]
    more = len(found) > limit
    return Page([_summary(r) for r in page],
                (page[-1]["call_id"], page[-1]["application_ref"]) if more else None)


def _summary_rows(store: ViewStore, filters: dict, after: tuple[str, str] | None,
                  count: int) -> list[dict]:
    clauses, params = [], []
    for column in _FILTERS:
        if filters.get(column) is not None:
            clauses.append(f"{column} = ?")
            params.append(filters[column])
    prefix = filters.get("ref_prefix")
    if prefix:
        # compared character by character (no LIKE: a prefix may hold % or _)
        clauses.append("substr(application_ref, 1, ?) = ?")
        params += [len(prefix), prefix]
    if after is not None:
        fixed = filters.get("call_id")
        if fixed is None:
            clauses.append("(call_id, application_ref) > (?, ?)")
            params += [after[0], after[1]]
        elif after[0] > fixed:
            return []  # the key is past every row of that call
        elif after[0] == fixed:
            # the key's first column fixed: a range on the second alone, which the index seeks
            # to (PostgreSQL scans the whole call from its start for the row comparison beside
            # an equality on its first column)
            clauses.append("application_ref > ?")
            params.append(after[1])
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    sql = (f"SELECT {', '.join(_SUMMARY_COLUMNS)} FROM {SUMMARIES} {where}"
           f"ORDER BY call_id, application_ref LIMIT ?")
    with store.transaction(read_only=True) as tx:
        rows = tx.all(sql, [*params, count])
    return [dict(zip(_SUMMARY_COLUMNS, row)) for row in rows]


def _summary(row: dict) -> dict:
    state = json.loads(row["state"])
    item = {k: row[k] for k in _SUMMARY_COLUMNS if k not in ("app_id", "state",
                                                              "deadline_outcome")}
    item["deadline"] = {"outcome": row["deadline_outcome"], "detail": state["deadline_detail"]}
    return item


_REPORT_COLUMNS = ("app_id", "application_ref", "city", "status", "deadline_outcome",
                   "materials_received_at", "detail", "state")


def deadline_report(store: ViewStore, call_id: str, city: str | None,
                    keep: Callable[[Iterable[str]], set[str]] | None = None) -> dict:
    """``{"checked", "items"}``: whether the call's check has run, and a row per application
    (of ``city`` when given, narrowed by ``keep``), in reference order, with its evidence."""
    sql = f"SELECT {', '.join(_REPORT_COLUMNS)} FROM {REPORT} WHERE call_id = ?"
    params = [call_id]
    if city is not None:
        sql, params = sql + " AND city = ?", [*params, city]
    with store.transaction(read_only=True) as tx:
        rows = [dict(zip(_REPORT_COLUMNS, r))
                for r in tx.all(sql + " ORDER BY application_ref", params)]
        checked = tx.one(f"SELECT 1 FROM {REPORT_CHECKS} WHERE call_id = ?", (call_id,))
    kept = keep([r["app_id"] for r in rows]) if keep else None
    return {"checked": checked is not None,
            "items": [_report_row(r) for r in rows if kept is None or r["app_id"] in kept]}


def _report_row(row: dict) -> dict:
    state = json.loads(row["state"])
    return {
        "application_ref": row["application_ref"],
        "city": row["city"],
        "status": row["status"],
        "outcome": row["deadline_outcome"],
        "materials_received_at": row["materials_received_at"],
        "detail": row["detail"],
        "evidence": {
            "recommended_at": state["recommended_at"],
            "receipts": state["receipts"],
            "lapse": state["lapse"],
            "reinstated": state["reinstated"],
        },
    }
