"""The sub-conditions a clause of the guide's criteria (``domain.criteria``) is judged on, the
exact arithmetic they use, and how they make a clause's verdict; private to ``domain.criteria``
but for the outcomes, which it re-exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Sequence

PASS, FAIL, WARNING, WAIVED = "pass", "fail", "warning", "waived"
OUTCOMES = (PASS, FAIL, WARNING, WAIVED)

Verdict = tuple[str, str, dict]  # outcome, detail, figures
_LEVELS = ("province", "city", "district")


@dataclass(frozen=True)
class _Check:
    """One sub-condition of a clause: whether it holds, how to say it, what it measured."""

    ok: bool
    text: str
    figures: dict


# --- numbers --------------------------------------------------------------------------------

def _exact(value: Any) -> int | Fraction:
    """A declared figure as an exact number: an int as it is, a float as the decimal it was
    written as (a declared 0.1 means one tenth, not 0.1000000000000000055...)."""
    if type(value) is int:
        return value
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _figure(value: Any) -> int | str:
    if type(value) is int:
        return value
    exact = _exact(value)
    return int(exact) if exact.denominator == 1 else str(value)


def _show(value: Any) -> str:
    return str(_figure(value))


def _percent(share: Fraction) -> str:
    # Truncated, never rounded up: a failing 29.999 % must not read as 30.00 %.
    hundredths = int(share * 10000)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


# --- sub-conditions -------------------------------------------------------------------------

def _flag(label: str, name: str, indicators: Mapping[str, Any]) -> _Check:
    ok = indicators[name] is True
    return _Check(ok, f"{label}: {'yes' if ok else 'no'}", {name: "yes" if ok else "no"})


def _one_of(label: str, name: str, indicators: Mapping[str, Any],
            allowed: tuple[str, ...]) -> _Check:
    value = indicators[name]
    ok = value in allowed
    text = f"{label} {value}" + ("" if ok else f" (needs {' or '.join(allowed)})")
    return _Check(ok, text, {name: str(value)})


def _at_least(label: str, name: str, indicators: Mapping[str, Any], threshold: int,
              unit: str = "") -> _Check:
    value = indicators[name]
    ok = _exact(value) >= threshold
    text = f"{label} {_show(value)}{unit} {'>=' if ok else '<'} {threshold}{unit}"
    return _Check(ok, text, {name: _figure(value), f"{name}_required": threshold})


def _share(label: str, indicators: Mapping[str, Any], part: str, whole: str,
           threshold_percent: int) -> _Check:
    numerator, denominator = indicators[part], indicators[whole]
    figures: dict = {"share": f"{numerator}/{denominator}",
                     "threshold_percent": str(threshold_percent)}
    if denominator == 0:
        return _Check(False, f"{label} {numerator}/0: a share over zero enterprises fails", figures)
    share = Fraction(numerator, denominator)
    ok = share * 100 >= threshold_percent
    figures["share_percent"] = _percent(share)
    text = (f"{label} {numerator}/{denominator} = {figures['share_percent']} % "
            f"{'>=' if ok else '<'} {threshold_percent} %")
    return _Check(ok, text, figures)


def _projects(label: str, indicators: Mapping[str, Any], fields: tuple[str, ...]) -> _Check:
    projects = indicators["application_projects"]
    matching = [p for p in projects if p.get("field") in fields]
    declared = sorted({str(p.get("field")) for p in projects})
    text = (f"{len(matching)} of {len(projects)} projects in {label}"
            f" (fields declared: {', '.join(declared) or 'none'})")
    figures = {"projects": len(projects), "qualifying_projects": len(matching)}
    return _Check(bool(matching), text, figures)


def _funding(indicators: Mapping[str, Any]) -> _Check:
    ratio = indicators["funding_ratio"]
    province, city, district = (_exact(ratio[level]) for level in _LEVELS)
    shown = {level: _show(ratio[level]) for level in _LEVELS}
    problems = [text for broken, text in (
        (province <= 0, f"province {shown['province']} is not > 0"),
        (city < province, f"city {shown['city']} < province {shown['province']}"),
        (district < province, f"district {shown['district']} < province {shown['province']}"),
    ) if broken]
    text = f"funding province:city:district {':'.join(shown.values())} "
    text += f"({', '.join(problems)})" if problems else "(city and district >= province > 0)"
    figures = {f"funding_{level}": _figure(ratio[level]) for level in _LEVELS}
    return _Check(not problems, text, figures)


def _all_of(checks: Sequence[_Check]) -> Verdict:
    return _verdict(all(c.ok for c in checks), checks)


def _verdict(ok: bool, checks: Sequence[_Check], soft: bool = False) -> Verdict:
    figures: dict = {}
    for check in checks:
        figures.update(check.figures)
    outcome = PASS if ok else (WARNING if soft else FAIL)
    return outcome, "; ".join(c.text for c in checks), figures
