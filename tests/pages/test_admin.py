"""The admin's pages, with their own CSS, under gunicorn as under runserver."""


def test_admin_login_page_is_styled(browser, site):
    browser.open(site.url + "/admin/login/")
    header = browser.wait_for("#header")[0]

    # Unstyled, the header would have no background: the admin's CSS was served and applied.
    assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    stylesheets = [r for r in browser.requests() if r.url.split("?")[0].endswith(".css")]
    assert len(stylesheets) >= 2
    assert all(r.status == 200 for r in stylesheets), stylesheets


def test_staff_sign_in_through_the_login_page(browser, site):
    username = browser.login_as_staff(site, "ops-lead")

    welcome = browser.wait_for("#user-tools strong")[0].get_attribute("textContent")
    assert welcome == username
    assert browser.driver.current_url == site.url + "/admin/"
