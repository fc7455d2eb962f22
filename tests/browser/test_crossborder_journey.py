"""A regulator records a transfer approval, then revokes it with a reason and a confirmation; the next
transfer is refused, and an auditor finds the refusal in the export log."""

from __future__ import annotations

import pytest

from crossborder import gate
from crossborder.errors import CrossBorderRefused
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_regulator_records_and_revokes_an_approval_and_the_auditor_sees_the_refusal(
    page, login, regulator, auditor, recycler_org, buyer_org
):
    login(page, "regulator", PASSWORD)
    page.get_by_role("link", name="Cross-border", exact=True).click()
    form = page.get_by_test_id("approval-form")
    form.get_by_label("Data holder (exporter)").select_option(label=f"{recycler_org.name} (CN)")
    form.get_by_label("Recipient").select_option(label=f"{buyer_org.name} (DE)")
    form.get_by_label("telemetry (raw BMS data)").check()
    form.get_by_label("personal (vehicle and owner identifiers)").check()
    form.get_by_label("Reference").fill("CAC-SA-2026-0042")
    form.get_by_label("Valid from").fill("2026-01-01")
    form.get_by_label("Valid until").fill("2099-12-31")
    with page.expect_navigation():
        form.get_by_role("button", name="Record approval").click()
    assert "in force" in page.locator("hgroup").inner_text()

    revoke = page.get_by_test_id("revoke-form")
    revoke.get_by_label("Reason").fill("The recipient's contract ended.")
    revoke.get_by_role("checkbox").check()
    questions: list[str] = []

    def accept(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        revoke.get_by_role("button", name="Revoke").click()
    assert "Revoke this approval now?" in questions[0]
    assert "The recipient's contract ended." in page.get_by_test_id("revocation").inner_text()

    with pytest.raises(CrossBorderRefused):
        gate.authorise(
            user=regulator,
            recipient=buyer_org,
            holder=recycler_org,
            data_classes=["telemetry"],
            data_jurisdiction="CN",
            channel="report",
            subject="Custody report 12",
        )

    page.get_by_role("button", name="Log out").click()
    login(page, "auditor", PASSWORD)
    page.goto("/cross-border/export-log/")
    page.get_by_test_id("log-filter").get_by_label("Outcome").select_option("refused")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    row = page.get_by_test_id("entry-refused")
    assert "CROSS_BORDER_APPROVAL_EXPIRED" in row.inner_text()
    assert "Custody report 12" in row.inner_text()
