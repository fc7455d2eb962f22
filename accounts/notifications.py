"""Sending in-app notifications (and their emails) to the people of an organisation."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Notification, Organisation, User


def notify_users(
    *,
    users: Iterable[User],
    subject: str,
    body: str = "",
    link: str = "",
    dedup_key: str,
    level: str = Notification.Level.INFO,
    email: bool = True,
) -> list[Notification]:
    """Notify each user once per `dedup_key`; emails go out after the transaction commits."""
    created: list[Notification] = []
    for user in users:
        notification, was_created = Notification.objects.get_or_create(
            recipient=user,
            dedup_key=dedup_key,
            defaults={"subject": subject[:200], "body": body, "link": link, "level": level},
        )
        if was_created:
            created.append(notification)
    if email and created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: _email(ids))
    return created


def notify_organisation(
    *,
    organisation: Organisation,
    roles: Iterable[str] = (Membership.Role.ADMIN,),
    subject: str,
    body: str = "",
    link: str = "",
    dedup_key: str,
    level: str = Notification.Level.INFO,
    email: bool = True,
) -> list[Notification]:
    """Notify the members of `organisation` holding one of `roles`."""
    users = User.objects.filter(
        membership__organisation=organisation, membership__role__in=list(roles), is_active=True
    )
    return notify_users(
        users=users, subject=subject, body=body, link=link, dedup_key=dedup_key, level=level, email=email
    )


def notify_platform_admins(
    *, subject: str, body: str = "", dedup_key: str, level: str = Notification.Level.ALERT
) -> list[Notification]:
    """Notify every active superuser."""
    users = User.objects.filter(is_superuser=True, is_active=True)
    return notify_users(users=users, subject=subject, body=body, dedup_key=dedup_key, level=level)


def _email(notification_ids: list[int]) -> None:
    # Claim each notification before sending so a second run never emails it twice.
    for notification in Notification.objects.filter(pk__in=notification_ids, emailed_at=None).select_related(
        "recipient"
    ):
        claimed = Notification.objects.filter(pk=notification.pk, emailed_at=None).update(
            emailed_at=timezone.now()
        )
        if claimed != 1 or not notification.recipient.email:
            continue
        try:
            send_mail(
                subject=f"[Voltrace] {notification.subject}",
                message=f"{notification.body}\n\n{settings.PUBLIC_BASE_URL}{notification.link}".strip(),
                from_email=None,
                recipient_list=[notification.recipient.email],
            )
        except Exception:
            Notification.objects.filter(pk=notification.pk).update(emailed_at=None)  # let a later run retry
            raise
