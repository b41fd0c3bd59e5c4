"""The browsable API (what a browser gets from an API endpoint) shows who is calling."""


def test_top_bar_shows_the_callers_soeid(browser, site):
    if site.env["DEBUG"] == "true":
        soeid = "default_user"  # make run: no token is the development default token
    else:
        soeid = "alice"
        browser.send_headers(Authorization=f"Bearer {site.issue_token(soeid)}")
    browser.open(site.url + "/api/telemetry/usage/me")

    assert browser.text(".navbar .navbar-text") == soeid
    assert "GatewayIdentity" not in browser.driver.page_source
    assert browser.driver.title == "My Usage – dgen-ping"


def test_service_information_lists_the_reports(browser, site):
    browser.open(site.url + "/")
    content = browser.text(".response-info")
    for path in ("/api/telemetry/events", "/api/telemetry/usage", "/api/telemetry/usage/me"):
        assert f'"{path}"' in content
