"""The life-cycle paths: one function each, named by the towns table's "path"."""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

from .batch import Batch
from .common import PROVINCE, STAGES, TABLES, day, pick
from .flow import Flow
from .indicators import assess, indicators_for
from .towns import Town

RETURN_REASONS: dict[str, str] = TABLES["return_reasons"]


def path_approved(b: Batch, app: Town) -> None:
    """submitted → city_verified → recommended → materials → evaluated → approved."""
    f = Flow(b, app)
    f.to_recommended(app.opts.get("split", "complete"))
    f.evaluate(stage="late_evaluate" if app.opts.get("eval_late") else "evaluate")
    late = app.opts.get("approve_late") or app.opts.get("eval_late")
    f.approve(stage="late_approve" if late else "approve")


def path_returned_then_approved(b: Batch, app: Town) -> None:
    """returned (from submitted or city_verified) → resubmitted → ... → approved."""
    good = app.indicators
    app.indicators = indicators_for(b.rng, app, app.opts["first"])
    f = Flow(b, app)
    f.submit(stage="submit_early")
    if app.opts.get("from_verified"):
        f.verify(stage="return", name="verify_first")
    f.return_(RETURN_REASONS[app.opts["first"]])
    app.indicators = good
    f.resubmit(good)
    f.verify()
    f.recommend()
    f.complete_materials()
    f.evaluate()
    f.approve()


def path_reevaluated(b: Batch, app: Town) -> None:
    """evaluated without waiving its warning → (approval refused) → re-evaluated → approved."""
    f = Flow(b, app)
    f.to_recommended()
    f.evaluate(waive=False, name="evaluate_first")
    if app.opts.get("approve_attempt"):
        f.approve(stage="approve_try", expect="precondition_failed",
                  label=f"{app.ref} approval with an unwaived warning", name="approve_try")
    if app.opts.get("late"):
        f.evaluate(stage="late_evaluate", label=f"{app.ref} re-evaluation after the check")
        f.approve(stage="late_approve")
    else:
        f.evaluate(stage="reevaluate", label=f"{app.ref} re-evaluation with waivers")
        f.approve()


def path_rejected_by_city(b: Batch, app: Town) -> None:
    """rejected by the city from submitted, returned or city_verified."""
    f = Flow(b, app)
    f.submit()
    at = app.opts["at"]
    if at == "returned":
        f.return_("The applicant body is not the town government named in the zone plan.")
        f.reject_by_city("No corrected application within the city's ten-day period.",
                         stage="verify")
    elif at == "city_verified":
        f.verify()
        f.reject_by_city("On review the zone overlaps a provincial ecological red line.",
                         stage="recommend")
    else:
        f.reject_by_city("The town is already a provincial e-commerce demonstration base "
                         "in this programme's first batch.", stage="verify")


def path_rejected_by_province(b: Batch, app: Town) -> None:
    """rejected by the province after evaluation (a failing clause) or from recommended."""
    f = Flow(b, app)
    f.to_recommended()
    if app.opts.get("after") == "recommended":
        f.reject_by_province("The zone duplicates one named in the 2016 batch; the materials "
                             "do not show a separate area.")
        return
    f.evaluate()
    failing = [c for c, o in assess(app.track, app.region, app.indicators).items() if o == "fail"]
    if app.opts.get("approve_attempt"):
        f.approve(stage="decide", expect="precondition_failed",
                  label=f"{app.ref} approval with failing clause {', '.join(failing)}",
                  name="approve_try")
    if app.opts.get("late"):
        f._send("application.rejected", PROVINCE,
                {"reason": f"Hard requirement not met: clause {', '.join(failing)}."},
                "late_approve", None, None, "ok", f"{app.ref} rejected after the check", "reject")
    else:
        f.reject_by_province(f"Hard requirement not met: clause {', '.join(failing)}.")


def path_withdrawn(b: Batch, app: Town) -> None:
    """withdrawn by its applicant from submitted, returned, city_verified, recommended,
    evaluated, or after the check."""
    f = Flow(b, app)
    at = app.opts["at"]
    reason = "The town will apply with a merged zone in the next batch."
    if at == "submitted":
        f.submit()
        f.withdraw(reason, stage="withdraw_early")
    elif at == "returned":
        f.submit()
        f.return_("Funding commitment of the district is not signed.")
        f.withdraw("The district cannot commit its share of the funding this year.",
                   stage="verify")
    elif at == "city_verified":
        f.submit()
        f.verify()
        f.withdraw(reason, stage="recommend")
    elif at == "recommended":
        f.to_recommended(split=None)
        f.withdraw(reason, stage="materials")
    elif at == "evaluated":
        f.to_recommended()
        f.evaluate()
        f.withdraw("The town government was reorganised; the application is withdrawn.",
                   stage="reevaluate")
    else:  # after the check: on time, then withdrawn
        f.to_recommended()
        f.withdraw("The park is being merged into the Qingyuan high-tech zone.",
                   stage="late_misc", label=f"{app.ref} withdrawn after the check")


def path_open_recommended(b: Batch, app: Town) -> None:
    """recommended with complete materials; never evaluated: open at the end, on time."""
    Flow(b, app).to_recommended()


def path_open_evaluated(b: Batch, app: Town) -> None:
    """evaluated, never approved (its warning is not waived): open at the end, on time."""
    f = Flow(b, app)
    f.to_recommended()
    f.evaluate(waive=False)
    if app.opts.get("approve_attempt"):
        f.approve(stage="decide", expect="precondition_failed",
                  label=f"{app.ref} approval with an unwaived warning", name="approve_try")


def path_lapses(b: Batch, app: Town) -> None:
    """Short of the condition at the cutoff: lapses at the check."""
    f = Flow(b, app)
    at = app.opts["at"]
    f.submit()
    if at == "returned":
        f.return_("The R&D cooperation agreements are not attached.")
    if at in ("city_verified", "recommended"):
        f.verify()
    if at == "recommended":
        f.recommend()
        materials = app.opts["materials"]
        if materials == "unbound":  # two paper copies, but not A4 bound: they do not count
            f.materials(2, False, 1, True)
        elif materials == "late":  # complete, but dated after the cutoff
            f.materials(2, True, 1, True, at=day("03-31", "10:20"),
                        label=f"{app.ref} materials received 2017-03-31, after the cutoff")


def path_reinstated_by_receipt(b: Batch, app: Town) -> None:
    """Recommended with one paper copy by the cutoff: an evaluation is refused, the check
    lapses it, a receipt dated 03-29 arriving after the check reinstates it, then it is
    evaluated and approved."""
    f = Flow(b, app)
    f.to_recommended(split=None)
    f.materials(1, True, 1, True, at=day("03-24", "10:05"))
    f.evaluate(at=day("03-28", "15:30"), expect="precondition_failed",
               label=f"{app.ref} evaluation before the materials are complete",
               name="evaluate_early")
    f.materials(1, True, 0, False, at=day("03-29", "16:40"), arrive=day("04-01", "09:12"),
                label=f"{app.ref} timely receipt (2017-03-29) arriving after the check: "
                      "reinstated", name="materials_late_evidence")
    f.t = day("04-01", "09:12")
    f.evaluate(stage="late_evaluate")
    f.approve(stage="late_approve")


def path_reinstated_by_earlier_receipt(b: Batch, app: Town) -> None:
    """Materials dated 03-31 (after the cutoff) lapse it; an earlier receipt dated 03-30,
    entered late, reinstates it."""
    f = Flow(b, app)
    f.to_recommended(split=None)
    f.materials(2, True, 1, True, at=day("03-31", "09:40"),
                label=f"{app.ref} materials received 2017-03-31, after the cutoff")
    f.materials(2, True, 1, True, at=day("03-30", "16:55"), arrive=day("04-01", "10:03"),
                label=f"{app.ref} timely receipt (2017-03-30) arriving after the check: "
                      "reinstated", name="materials_late_evidence")


def path_reinstated_by_recommendation(b: Batch, app: Town) -> None:
    """Verified but not recommended by the check: lapses; the late-arriving recommendation
    (03-28) and materials (03-29) reinstate it. A second verification is refused."""
    f = Flow(b, app)
    f.submit()
    f.verify(at=day("03-06", "11:20"))
    f.verify(at=day("03-20", "10:00"), arrive=day("04-02", "09:30"), expect="invalid_transition",
             label=f"{app.ref} a second city_verified as late evidence", name="verify_again")
    f.recommend(at=day("03-28", "15:10"), arrive=day("04-02", "09:45"),
                label=f"{app.ref} timely recommendation (2017-03-28) after the check: still "
                      "lapsed, materials missing")
    f.materials(2, True, 1, True, at=day("03-29", "11:00"), arrive=day("04-03", "14:20"),
                label=f"{app.ref} timely materials (2017-03-29) after the check: reinstated",
                name="materials_late_evidence")


def path_recommended_before_verified(b: Batch, app: Town) -> None:
    """The recommendation arrives before the verification it follows: refused; the city's
    system re-sends it (same message_id) after the verification arrives."""
    f = Flow(b, app)
    f.submit()
    verified_at = pick(b.rng, f.t, *STAGES["verify"])
    recommended_at = pick(b.rng, verified_at, *STAGES["recommend"])
    late_arrival = recommended_at + timedelta(hours=20)
    f.verify(at=verified_at, arrive=late_arrival)
    early = f.recommend(at=recommended_at, arrive=recommended_at + timedelta(minutes=4),
                        expect="invalid_transition",
                        label=f"{app.ref} recommended arriving before its city_verified")
    b.derive(early, f"{app.city}-city", late_arrival + timedelta(minutes=30), "ok",
             f"{app.ref} the same recommendation re-sent after city_verified arrived")
    f.t = late_arrival + timedelta(hours=1)  # materials come after the recommendation lands
    f.complete_materials()
    f.evaluate()
    f.approve()


def path_approved_before_evaluated(b: Batch, app: Town) -> None:
    """The approval arrives before the evaluation: refused; entered again after it."""
    f = Flow(b, app)
    f.to_recommended()
    evaluated = f.evaluate(at=day("03-29", "10:30"), arrive=day("03-30", "15:40"))
    f.approve(at=day("03-30", "11:00"), arrive=day("03-30", "11:04"),
              expect="invalid_transition",
              label=f"{app.ref} approved arriving before its evaluation", name="approve_early")
    f.approve(at=day("03-30", "11:00"), arrive=evaluated.arrive + timedelta(minutes=25),
              label=f"{app.ref} approval entered again (new message_id)")


def path_submitted_after_check(b: Batch, app: Town) -> None:
    """A timely submission whose message first arrives after the check: lapses at once.
    With ``reinstate``, its timely verification, recommendation and materials follow."""
    f = Flow(b, app)
    if not app.opts.get("reinstate"):
        f.submit(at=day("03-24", "10:15"), arrive=day("04-03", "09:05"),
                 label=f"{app.ref} timely submission (2017-03-24) first arriving after the "
                       "check: lapses at once")
        return
    f.submit(at=day("03-22", "09:50"), arrive=day("04-03", "09:20"),
             label=f"{app.ref} timely submission (2017-03-22) first arriving after the check: "
                   "lapses at once")
    f.verify(at=day("03-25", "14:00"), arrive=day("04-03", "11:00"),
             label=f"{app.ref} timely verification (2017-03-25) after the check: still lapsed")
    f.recommend(at=day("03-27", "10:30"), arrive=day("04-03", "11:30"),
                label=f"{app.ref} timely recommendation (2017-03-27) after the check: "
                      "still lapsed")
    f.materials(2, True, 1, True, at=day("03-29", "15:00"), arrive=day("04-04", "10:00"),
                label=f"{app.ref} timely materials (2017-03-29) after the check: reinstated",
                name="materials_late_evidence")
    f.t = day("04-04", "10:00")
    f.evaluate(stage="late_evaluate")
    f.approve(stage="late_approve")


PATHS: dict[str, Callable[[Batch, Town], None]] = {
    "approved": path_approved,
    "returned_then_approved": path_returned_then_approved,
    "reevaluated": path_reevaluated,
    "rejected_by_city": path_rejected_by_city,
    "rejected_by_province": path_rejected_by_province,
    "withdrawn": path_withdrawn,
    "open_recommended": path_open_recommended,
    "open_evaluated": path_open_evaluated,
    "lapses": path_lapses,
    "reinstated_by_receipt": path_reinstated_by_receipt,
    "reinstated_by_earlier_receipt": path_reinstated_by_earlier_receipt,
    "reinstated_by_recommendation": path_reinstated_by_recommendation,
    "recommended_before_verified": path_recommended_before_verified,
    "approved_before_evaluated": path_approved_before_evaluated,
    "submitted_after_check": path_submitted_after_check,
}
