"""Celery tasks: thin interfaces over passport services, taking JSON-safe ids."""

from __future__ import annotations

from celery import shared_task

from passport.services import imports, labels


# Both services claim their job row with a conditional update, so a redelivered task does nothing.
@shared_task(name="passport.run_registration_import", acks_late=True)
def run_registration_import(*, import_id: int) -> None:
    imports.run_registration_import(import_id=import_id)


@shared_task(name="passport.render_label_sheet", acks_late=True)
def render_label_sheet(*, sheet_id: int) -> None:
    labels.render_label_sheet(sheet_id=sheet_id)
