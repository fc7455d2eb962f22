"""Log in, switch the language to Chinese and back, and see the dashboard for the organisation's kind."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_user_logs_in_switches_language_and_sees_dashboard(page, login, recycler_admin):
    login(page, "recycler-admin", PASSWORD)

    assert page.get_by_test_id("whoami").inner_text().startswith("recycler-admin")
    assert "Recycler" in page.get_by_test_id("org-kind").inner_text()
    assert page.locator("html").get_attribute("lang") == "en"

    with page.expect_navigation():
        page.get_by_label("Language").select_option("zh-hans")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("heading", level=1).inner_text() == "仪表板"

    with page.expect_navigation():
        page.get_by_label("语言").select_option("en")
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"


def test_anonymous_visitor_is_sent_to_login(page):
    page.goto("/")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("button", name="Log in").is_visible()
