"""Overflow in the dashboard, on a gateway of its own: a ChatGPT pool whose one account always
meets a spent usage window, with an API-key deployment as the route's overflow. The request's
detail shows each attempt's side and why, the Routing page says where new conversations go
and which side each deployment is on, and "explain this route" names the side."""

import httpx
import pytest

from conftest import ADMIN_KEY, admin, serve_with_account, shot, sign_in, wait_for


@pytest.fixture(scope="module")
def overflow_gateway(mock_url):
    yield from serve_with_account(
        mock_url,
        "overflow",
        """
[routing]
backoff_ms = 0

[[providers]]
name = "codex"
kind = "chatgpt"
base_url = "{mock_url}"
token_url = "{mock_url}/oauth/token"
issuer = "{mock_url}"
headers = { "x-mock" = "mock:usage-limit mock:ratelimit-reset=600" }

[[providers]]
name = "paid"
kind = "openai"
base_url = "{mock_url}/v1"
api_key = "sk-paid"

[[models]]
name = "gpt"
targets = ["codex/gpt-5"]
overflow = ["paid/gpt-5"]
""",
        "spent@example.com",
        "acct-spent",
    )


def test_the_side_of_an_overflowed_request_and_of_the_route_is_shown(browser, overflow_gateway):
    key = admin(overflow_gateway, "POST", "/admin/keys", json={"name": "overflow"})["key"]
    r = httpx.post(
        f"{overflow_gateway}/v1/responses",
        headers={"authorization": f"Bearer {key}", "session_id": "ui-overflow"},
        json={"model": "gpt", "input": "hello"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-crossbar-provider"] == "paid"
    request_id = r.headers["x-crossbar-request-id"]
    wait_for(lambda: admin(overflow_gateway, "GET", "/admin/usage")["rows"], "the usage row")

    ctx, page = sign_in(browser, overflow_gateway, ADMIN_KEY, viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{overflow_gateway}/ui/requests")
        page.fill("input[name=id]", request_id)
        page.click("form.filters button[type=submit]")
        page.locator("table.log tbody tr td a").first.click()
        side = page.locator("dd.side")
        assert side.get_attribute("data-side") == "overflow"
        assert "usage window is spent" in side.inner_text()
        attempts = page.locator("tr.attempt")
        assert attempts.count() == 2
        assert attempts.nth(0).locator("td.side").get_attribute("data-side") == "primary"
        assert "moved on" in attempts.nth(0).inner_text()
        assert attempts.nth(1).locator("td.side").get_attribute("data-side") == "overflow"
        assert "served" in attempts.nth(1).inner_text()
        shot(page, "overflow-request")
        detail = page.url

        page.goto(f"{overflow_gateway}/ui/routing")
        route = page.locator("section.route", has=page.locator("h2", has_text="gpt"))
        assert route.locator("[data-overflow]").get_attribute("data-overflow") == "overflow"
        sides = [c.get_attribute("data-side") for c in route.locator("td[data-side]").all()]
        assert sides == ["primary", "overflow"], sides
        page.fill("input[name=explain]", "gpt")
        page.click("section.panel button[type=submit]")
        assert page.locator("[data-chosen]").get_attribute("data-chosen") == "paid/gpt-5"
        explained = page.locator("p.side")
        assert explained.get_attribute("data-side") == "overflow"
        assert "usage window is spent" in explained.inner_text()
        shot(page, "overflow-routing")
    finally:
        ctx.close()

    # On a phone: the side is still said in words on both pages.
    ctx, page = sign_in(browser, overflow_gateway, ADMIN_KEY, viewport={"width": 390, "height": 844})
    try:
        page.goto(detail)
        assert page.locator("dd.side").is_visible()
        assert "usage window is spent" in page.locator("dd.side").inner_text()
        shot(page, "overflow-request-phone")
        page.goto(f"{overflow_gateway}/ui/routing")
        assert page.locator("[data-overflow]").first.is_visible()
        shot(page, "overflow-routing-phone")
    finally:
        ctx.close()
