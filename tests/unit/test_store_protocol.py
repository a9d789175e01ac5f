"""Both of the service's recorders provide everything the domain needs of a store
(``domain.store.Store``), with signatures the domain's calls fit."""

from __future__ import annotations

import inspect

import pytest

from adapters.store.recorders import PostgresRecorder
from adapters.store.sqlite_recorder import SQLiteRecorder
from domain.store import LibraryStore, Store

P = inspect.Parameter


def members(protocol: type) -> list[str]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return sorted(names)


def accepts(provided: inspect.Signature, declared: inspect.Signature) -> list[str]:
    """What a call fitting ``declared`` would not fit in ``provided``."""
    params = list(provided.parameters.values())[1:]
    by_name = {p.name: p for p in params}
    var_kw = any(p.kind is P.VAR_KEYWORD for p in params)
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    problems = []
    wanted = list(declared.parameters.values())[1:]
    for i, want in enumerate(wanted):
        if want.kind is P.VAR_KEYWORD:
            if not var_kw:
                problems.append("**kwargs")
            continue
        have = by_name.get(want.name)
        if have is None:
            problems.append(f"no parameter {want.name}")
        elif want.kind is P.POSITIONAL_OR_KEYWORD and (i >= len(positional) or positional[i].name != want.name):
            problems.append(f"{want.name} is not positional at {i}")
        elif want.default is not P.empty and have.default is P.empty:
            problems.append(f"{want.name} has no default")
    names = {w.name for w in wanted}
    for extra in params:
        if extra.name not in names and extra.default is P.empty and extra.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            problems.append(f"{extra.name} is required")
    return problems


@pytest.mark.parametrize("recorder", [PostgresRecorder, SQLiteRecorder, LibraryStore])
@pytest.mark.parametrize("name", members(Store))
def test_the_recorder_provides_the_member_of_the_store(recorder, name):
    assert hasattr(recorder, name), f"{recorder.__name__} lacks {name}"
    declared = getattr(Store, name, None)
    if not callable(declared):  # an attribute: its value
        assert isinstance(getattr(recorder, name), bool)
        return
    provided = inspect.signature(getattr(recorder, name))
    assert accepts(provided, inspect.signature(declared)) == []


def test_the_store_declares_what_the_domain_uses():
    assert set(members(Store)) >= {"saves_on_condition", "select_events_of", "position_of",
                                   "select_notifications", "select_events",
                                   "max_notification_id", "insert_events"}


def test_the_service_recorders_save_on_condition():
    assert PostgresRecorder.saves_on_condition and SQLiteRecorder.saves_on_condition
