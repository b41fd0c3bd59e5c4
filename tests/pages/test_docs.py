"""/docs (Swagger UI), /redoc and /api/schema/ in a real browser, served by the gateway alone."""

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(site) -> dict[tuple[str, str], str]:
    """(METHOD, path) -> operationId of every operation the gateway's schema declares."""
    schema = site.get("/api/schema/?format=json").json()
    return {
        (method.upper(), path): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def assert_every_asset_loaded(browser):
    # The browser's own favicon probe may 404 where a page names no icon: not the page's.
    failed = [r for r in browser.failed_requests() if not r.url.endswith("/favicon.ico")]
    assert not failed, failed


def test_swagger_ui_lists_every_operation_of_the_schema(browser, site):
    expected = operations(site)
    browser.open(site.url + "/docs")
    blocks = browser.wait_for(".swagger-ui .opblock", count=len(expected))

    shown = {
        (
            block.find_element("css selector", ".opblock-summary-method").text,
            block.find_element("css selector", ".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks
    }
    assert shown == set(expected)
    # Styled by its own CSS (an unstyled summary has no background).
    color = browser.driver.execute_script(
        "return getComputedStyle(document.querySelector('.opblock-summary-method')).backgroundColor"
    )
    assert color != "rgba(0, 0, 0, 0)"
    assert_every_asset_loaded(browser)


def test_redoc_renders_every_operation_of_the_schema(browser, site):
    expected = operations(site)
    browser.open(site.url + "/redoc")
    browser.wait_for("[data-section-id^='operation/']", count=len(expected))

    sections = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('[data-section-id^=\"operation/\"]'))"
        ".map(e => e.getAttribute('data-section-id'))"
    )
    assert set(sections) == {f"operation/{op}" for op in expected.values()}
    assert_every_asset_loaded(browser)
    # Its one outside request, the sidebar's logo from a CDN, was refused by the page itself.
    blocked = [r.url for r in browser.requests() if r.blocked == "csp"]
    assert all(url.startswith("https://cdn.redoc.ly/") for url in blocked), blocked


def test_schema_shows_as_a_page_in_a_browser(browser, site):
    browser.open(site.url + "/api/schema/")
    content = browser.text(".response-info")

    assert "openapi: 3.1.0" in content
    assert "/api/telemetry/usage/me:" in content
    assert browser.driver.title.startswith("OpenAPI schema")
    assert browser.driver.current_url == site.url + "/api/schema/"  # shown, not downloaded
    assert_every_asset_loaded(browser)
