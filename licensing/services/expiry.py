"""The daily expiry job: record lapsed licences and warn facilities ahead, in set-based SQL.

Each step is one INSERT ... SELECT guarded by a unique constraint (ON CONFLICT DO NOTHING), so the
number of queries does not depend on how many licences there are, and a second or late run adds nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Membership, Notification
from core.jobs import run_job
from core.models import JobRun
from licensing.models import Licence, LicenceEvent

JOB_NAME = "licensing.run_expiry_job"
WARNING_DAYS = (7, 30, 90)
_WARNING_KEYS = {"dedup_key__startswith": "licence:", "dedup_key__contains": ":warn:"}


def _insert_from_select(model: type[models.Model], source: models.QuerySet, columns: dict[str, Any]) -> int:
    """INSERT INTO model's table one row per row of `source`, each column given by an expression;
    rows that would break a unique constraint are skipped."""
    aliases = {f"insert_{name}": expression for name, expression in columns.items()}
    query = source.order_by().annotate(**aliases).values(*aliases).query
    selected = list(query.annotation_select)
    if query.values_select or sorted(selected) != sorted(aliases):
        raise RuntimeError("INSERT ... SELECT must select exactly the named columns")  # a programming error
    select_sql, params = query.get_compiler(connection=connection).as_sql()
    quoted = ", ".join(
        connection.ops.quote_name(model._meta.get_field(alias.removeprefix("insert_")).column)
        for alias in selected
    )
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({quoted}) {select_sql} ON CONFLICT DO NOTHING", params)
        return max(cursor.rowcount, 0)


def _text(template: str, **parts: Any) -> Concat | Value:
    """A translated template with %(name)s placeholders, as an SQL string expression."""
    pieces: list[Any] = []
    position = 0
    for match in re.finditer(r"%\((\w+)\)s", template):
        if match.start() > position:
            pieces.append(Value(template[position : match.start()]))
        pieces.append(parts[match.group(1)])
        position = match.end()
    if position < len(template):
        pieces.append(Value(template[position:]))
    if len(pieces) == 1:
        return Concat(pieces[0], Value(""), output_field=models.TextField())
    return Concat(*pieces, output_field=models.TextField())


def record_expiries(*, now: datetime) -> int:
    """Append an `expired` event, effective at the local midnight that closed it, to each lapsed licence."""
    already = LicenceEvent.objects.filter(
        licence=models.OuterRef("pk"),
        kind=LicenceEvent.Kind.EXPIRED,
        effective_at=models.OuterRef("current_ends_at"),
    )
    lapsed = (
        Licence.objects.filter(ends_at__lte=now)  # a renewal only moves the end later, so this narrows safely
        .with_state(now)
        .filter(state="expired")
        .exclude(models.Exists(already))
    )
    return _insert_from_select(
        LicenceEvent,
        lapsed,
        {
            "licence": F("pk"),
            "kind": Value(LicenceEvent.Kind.EXPIRED.value),
            "effective_at": F("current_ends_at"),
            "recorded_at": Value(now, output_field=models.DateTimeField()),
            "reason": Value(_("The validity period ended; recorded by the daily expiry job.")),
            "evidence": Value(""),
            "evidence_sha256": Value(""),
        },
    )


def _facility_link_parts() -> tuple[str, str]:
    marker = 987654321
    prefix, _sep, suffix = reverse("licensing:facility-detail", kwargs={"pk": marker}).partition(str(marker))
    return prefix, suffix


def send_expiry_warnings(*, now: datetime) -> dict[str, int]:
    """Notify the facility organisation's admins 90, 30 and 7 days before a licence's window closes.

    A licence gets the warning of the smallest threshold it is within, once per threshold and end date
    (the dedup key names both, so a renewal starts the count again); a late run skips the thresholds
    already passed.
    """
    prefix, suffix = _facility_link_parts()
    as_text = {"output_field": models.TextField()}
    kind_label = Case(
        *[When(kind=value, then=Value(str(label))) for value, label in Licence.Kind.choices], **as_text
    )
    counts: dict[str, int] = {}
    lower = 0
    for days in WARNING_DAYS:
        horizon = now + timedelta(days=days)
        due = (
            Licence.objects.filter(
                ends_at__lte=horizon
            )  # necessary for the current end too (renewals extend)
            .with_state(now)
            .in_force()
            .filter(current_ends_at__gt=now + timedelta(days=lower), current_ends_at__lte=horizon)
            .filter(
                facility__organisation__memberships__role=Membership.Role.ADMIN,
                facility__organisation__memberships__user__is_active=True,
            )
        )
        valid_until = Cast(F("current_valid_until"), **as_text)
        counts[f"warned_{days}"] = _insert_from_select(
            Notification,
            due,
            {
                "recipient": F("facility__organisation__memberships__user_id"),
                "level": Value(Notification.Level.WARNING.value),
                "subject": _text(
                    _("Licence %(number)s expires within %(days)s days"),
                    number=F("number"),
                    days=Value(str(days)),
                ),
                "body": _text(
                    _(
                        "%(kind)s %(number)s of %(facility)s is valid until %(valid_until)s (%(zone)s), "
                        "%(days)s days or fewer from now. Upload the renewal evidence on the facility page."
                    ),
                    kind=kind_label,
                    number=F("number"),
                    facility=F("facility__name"),
                    valid_until=valid_until,
                    zone=F("facility__timezone"),
                    days=Value(str(days)),
                ),
                "link": Concat(Value(prefix), Cast(F("facility_id"), **as_text), Value(suffix), **as_text),
                "dedup_key": Concat(
                    Value("licence:"),
                    Cast(F("pk"), **as_text),
                    Value(f":warn:{days}:"),
                    valid_until,
                    **as_text,
                ),
                "created_at": Value(now, output_field=models.DateTimeField()),
            },
        )
        lower = days
    return counts


def email_claimed_warnings() -> int:
    """Email every licence warning not yet emailed, claimed in one UPDATE so two runs never send one twice."""
    stamp = timezone.now()
    claimed = Notification.objects.filter(emailed_at=None, **_WARNING_KEYS)
    if not claimed.update(emailed_at=stamp):
        return 0
    rows = list(
        Notification.objects.filter(emailed_at=stamp, **_WARNING_KEYS)
        .exclude(recipient__email="")
        .values_list("subject", "body", "link", "recipient__email")
    )
    messages = [
        EmailMessage(
            subject=f"[Voltrace] {subject}",
            body=f"{body}\n\n{settings.PUBLIC_BASE_URL}{link}".strip(),
            to=[email],
        )
        for subject, body, link, email in rows
    ]
    try:
        with get_connection() as mail:
            mail.send_messages(messages)
    except Exception:
        Notification.objects.filter(emailed_at=stamp, **_WARNING_KEYS).update(emailed_at=None)
        raise
    return len(messages)


def expire_and_warn(*, now: datetime) -> dict[str, int]:
    """The job's work: expiries and warnings in one transaction, emails after it commits."""
    with transaction.atomic():
        counts = {"expired": record_expiries(now=now), **send_expiry_warnings(now=now)}
    counts["emailed"] = email_claimed_warnings()
    return counts


def run_expiry_job(*, now: datetime | None = None) -> JobRun:
    """Run the daily licence expiry job and record it as a JobRun."""
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return run_job(JOB_NAME, lambda: expire_and_warn(now=moment))
