"""Reads: whether a facility may do an activity at an instant, timelines, revocations, summaries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from licensing import local_time
from licensing.models import Activity, Facility, Licence, LicenceEvent, LicenceEvidence


class Code:
    """Why a facility may not do an activity at an instant (stable API codes)."""

    NO_LICENCE = "NO_LICENCE"
    LICENCE_EXPIRED = "LICENCE_EXPIRED"
    LICENCE_SUSPENDED = "LICENCE_SUSPENDED"
    LICENCE_REVOKED = "LICENCE_REVOKED"
    SCOPE_NOT_COVERED = "SCOPE_NOT_COVERED"


# When no licence covering the activity is in force, the reason reported comes from the covering
# licence whose state is most specific: a suspension can be lifted, a revocation is final, an expiry
# is the most ordinary.
_BLOCKING = {
    "suspended": Code.LICENCE_SUSPENDED,
    "revoked": Code.LICENCE_REVOKED,
    "expired": Code.LICENCE_EXPIRED,
}
_PRIORITY = {"suspended": 0, "revoked": 1, "expired": 2}


@dataclass(frozen=True)
class LicenceStatus:
    """The answer to "may this facility do this activity at this instant", with the licence behind it."""

    ok: bool
    code: str | None
    status: str
    message: str
    licence: Licence | None
    facility: Facility
    activity: str
    at: datetime


def _latest_end_first(licence: Licence) -> tuple[int, float, int]:
    end = licence.current_ends_at
    return (0 if end is None else 1, -(end.timestamp() if end else 0.0), -licence.pk)


def licence_status(*, facility: Facility, activity: str, at: datetime) -> LicenceStatus:
    """Whether `facility` may do `activity` at `at`, answered from the licence histories."""
    licences = [
        licence
        for licence in Licence.objects.filter(facility=facility).with_state(at).order_by("id")
        if licence.state != "pending"
    ]
    label = str(Activity(activity).label)
    local_day = local_time.local_date(at, facility.timezone).isoformat()
    context = {"facility": facility.name, "activity": label, "day": local_day, "zone": facility.timezone}

    def answer(
        ok: bool, code: str | None, status: str, message: str, licence: Licence | None
    ) -> LicenceStatus:
        return LicenceStatus(ok, code, status, message, licence, facility, activity, at)

    if not licences:
        return answer(
            False,
            Code.NO_LICENCE,
            "none",
            _("%(facility)s held no licence on %(day)s (%(zone)s).") % context,
            None,
        )
    covering = [licence for licence in licences if activity in licence.current_activities]
    active = sorted((licence for licence in covering if licence.state == "active"), key=_latest_end_first)
    if active:
        chosen = active[0]
        return answer(
            True,
            None,
            "active",
            _("%(activity)s at %(facility)s is covered by licence %(number)s.")
            % {**context, "number": chosen.number},
            chosen,
        )
    if not covering:
        return answer(
            False,
            Code.SCOPE_NOT_COVERED,
            "out_of_scope",
            _("No licence of %(facility)s permitted %(activity)s on %(day)s (%(zone)s).") % context,
            None,
        )
    chosen = min(covering, key=lambda licence: (_PRIORITY[licence.state], *_latest_end_first(licence)))
    messages = {
        "suspended": _("Licence %(number)s of %(facility)s was suspended on %(day)s (%(zone)s)."),
        "revoked": _("Licence %(number)s of %(facility)s had been revoked by %(day)s (%(zone)s)."),
        "expired": _("Licence %(number)s of %(facility)s had expired by %(day)s (%(zone)s)."),
    }
    return answer(
        False,
        _BLOCKING[chosen.state],
        chosen.state,
        messages[chosen.state] % {**context, "number": chosen.number},
        chosen,
    )


def licences_with_state(*, user: Any, at: datetime | None = None) -> Any:
    """The licences `user` may see, each annotated with its state at `at` (default: now)."""
    return Licence.objects.visible_to(user).with_state(at or timezone.now()).select_related("facility")


def facility_timeline(*, facility: Facility, at: datetime | None = None) -> list[Licence]:
    """The facility's licences with their state now, each with its events and submissions in order."""
    return list(
        Licence.objects.filter(facility=facility)
        .with_state(at or timezone.now())
        .prefetch_related(
            Prefetch(
                "events", queryset=LicenceEvent.objects.select_related("actor").order_by("effective_at", "id")
            ),
            Prefetch("submissions", queryset=LicenceEvidence.objects.select_related("uploaded_by")),
        )
        .order_by("kind", "id")
    )


def state_counts(*, user: Any, at: datetime | None = None) -> dict[str, int]:
    """How many visible licences are in each state at `at`."""
    rows = licences_with_state(user=user, at=at).values_list("state", flat=True)
    counts = Counter(rows)
    return {state: counts.get(state, 0) for state in ("active", "suspended", "expired", "revoked", "pending")}


def revocation_of(*, licence_id: int) -> LicenceEvent | None:
    """The licence's revocation, if it has one (a licence is revoked at most once)."""
    return LicenceEvent.objects.filter(licence_id=licence_id, kind=LicenceEvent.Kind.REVOKED).first()


def revocations_of(*, licence_ids: list[int]) -> dict[int, LicenceEvent]:
    """The revocations of several licences at once, by licence id (for flagging a whole timeline)."""
    events = LicenceEvent.objects.filter(licence_id__in=licence_ids, kind=LicenceEvent.Kind.REVOKED)
    return {event.licence_id: event for event in events}


def flagged_by_revocation(
    *, revocation: LicenceEvent | None, occurred_at: datetime, recorded_at: datetime
) -> bool:
    """True when a step that happened at `occurred_at` and was recorded at `recorded_at`, while its licence
    looked valid, falls inside a revocation recorded only later with an earlier effective time."""
    return (
        revocation is not None
        and revocation.effective_at <= occurred_at
        and revocation.recorded_at > recorded_at
    )


def revocations_affecting(*, facility: Facility, since: datetime, until: datetime) -> list[LicenceEvent]:
    """Revocations of the facility's licences recorded after they took effect whose effect reaches into
    [since, until): a step in that span may have been accepted under a licence later revoked retroactively."""
    return [
        event
        for event in LicenceEvent.objects.filter(
            licence__facility=facility,
            kind=LicenceEvent.Kind.REVOKED,
            effective_at__lt=until,
            recorded_at__gt=since,
        ).select_related("licence")
        if event.is_retroactive
    ]
