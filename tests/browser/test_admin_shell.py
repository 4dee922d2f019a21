"""The admin itself in a browser: login form, home page, on a desktop and a phone."""

import pytest

from tests.browser.support import (
    PHONE,
    assert_accessible,
    assert_fits_viewport,
    login,
    save_screenshot,
)

pytestmark = pytest.mark.browser


def test_admin_logs_in_through_the_form_and_sees_the_platform_apps(new_page, make_user):
    make_user("ada", superuser=True)
    page = new_page()
    login(page, "ada")

    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Schedules, imports, reports and ops"
    assert page.get_by_role("link", name="Airports").is_visible()
    assert_accessible(page)
    save_screenshot(page, "admin_home")


def test_a_wrong_password_shows_the_login_error(new_page, make_user):
    make_user("ada", superuser=True)
    page = new_page()
    login_url = "/admin/login/?next=/admin/"
    page.goto(login_url)
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    assert "Please enter the correct username and password" in page.inner_text(".errornote")


def test_admin_home_fits_a_phone(page_for, make_user):
    page = page_for(make_user("ada", superuser=True), viewport=PHONE)

    assert_fits_viewport(page)
    assert_accessible(page)
    save_screenshot(page, "admin_home_phone")
