"""What an operator sees before confirming an intake: the battery's origin, status and holder, whether
the step is possible, and whether the chosen site is licensed for intake right now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from custody.events.machine import next_status
from custody.events.models import EventType
from custody.services.common import refuse_if_transfer_pending
from custody.services.steps import check_intake_holder
from licensing.models import Activity, Facility
from licensing.selectors import LicenceStatus, licence_status
from passport import codes
from passport.models import Battery
from passport.selectors import manufacturer_lookup
from passport.snapshots.models import Snapshot
from passport.verdict import check_origin


@dataclass
class IntakePreview:
    """The checks shown before the operator confirms; `ready` when nothing stands in the way."""

    typed: str
    code: str = ""
    battery: Battery | None = None
    problem: DomainError | None = None
    origin_explanation: str = ""
    origin_passed: bool = False
    step_problem: DomainError | None = None
    licence: LicenceStatus | None = None
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return (
            self.battery is not None
            and self.step_problem is None
            and self.licence is not None
            and self.licence.ok
        )


def intake_preview(
    *, user: Any, typed: str, facility: Facility | None, at: datetime | None = None
) -> IntakePreview:
    """Check a typed or scanned code for intake at `facility` without writing anything."""
    moment = at or timezone.now()
    text = typed.strip()
    if "/p/" in text:  # a scanned passport address
        text = text.rsplit("/p/", 1)[1].split("?", 1)[0].strip("/")
    preview = IntakePreview(typed=typed)
    try:
        parsed = codes.parse_code(text, manufacturer_lookup=manufacturer_lookup)
    except codes.CodeError as error:
        preview.problem = error
        return preview
    preview.code = parsed.code
    battery = Battery.objects.for_passport().filter(code=parsed.code).first()
    if battery is None:
        preview.problem = DomainError(
            _("No battery is registered under %(code)s.") % {"code": parsed.code},
            code="BATTERY_NOT_FOUND",
            field="code",
        )
        return preview
    preview.battery = battery
    origin = check_origin(battery, moment)
    preview.origin_explanation = origin.explanation
    preview.origin_passed = origin.state == "passed"
    organisation = getattr(user, "organisation", None)
    try:
        if organisation is not None:
            check_intake_holder(battery, organisation)
        next_status(battery, EventType.INTAKE)
        refuse_if_transfer_pending(battery)
    except DomainError as error:
        preview.step_problem = error
    if facility is not None:
        preview.licence = licence_status(facility=facility, activity=Activity.INTAKE, at=moment)
    preview.snapshots = list(
        Snapshot.objects.visible_to(user).filter(battery=battery).order_by("-captured_at", "-id")[:20]
    )
    return preview
