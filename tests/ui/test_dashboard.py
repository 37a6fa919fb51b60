"""The dashboard in a real browser (chromium via Playwright) against a live crossbar and the mock
upstream, after real traffic from the official OpenAI SDK (conftest.py `traffic`)."""
import csv
import datetime
import io
import secrets

import httpx
import openai
import pytest

from conftest import ADMIN_KEY, POOL_EMAIL, XSS_MODEL, admin, sdk, shot, sign_in, wait_for


def tokens(n: int) -> str:
    """ui::fmt::tokens."""
    if abs(n) >= 1e9:
        return f"{n / 1e9:.2f}B"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f}M"
    if abs(n) >= 1e4:
        return f"{n / 1e3:.1f}k"
    return str(n)


def usd(v: float) -> str:
    """ui::fmt::usd (below $1000)."""
    if v == 0:
        return "$0"
    if abs(v) < 0.0001:
        return f"${v:.6f}"
    return f"${v:.4f}" if abs(v) < 0.01 else f"${v:.2f}"


def stat(page, name):
    return page.locator(f"[data-stat={name}] .value").inner_text().strip()


def test_security_headers_and_signin_redirect(gateway):
    r = httpx.get(f"{gateway}/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/signin"
    r = httpx.get(f"{gateway}/ui/signin")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_admin_signs_in_and_the_overview_shows_the_traffic(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/?range=1h")
    rows = admin(gateway, "GET", "/admin/usage")["rows"]
    assert stat(page, "requests") == str(sum(r["requests"] for r in rows)) == str(traffic["total"])
    assert stat(page, "input") == tokens(sum(r["input_tokens"] for r in rows))
    assert stat(page, "output") == tokens(sum(r["output_tokens"] for r in rows))
    cost = sum(r["cost_usd"] for r in rows)
    assert cost > 0, "gpt-5-mini has a catalog price"
    shown = stat(page, "cost")
    # Same figure; the last digit may round differently (sums in another order).
    assert shown.startswith("$") and abs(float(shown[1:].replace(",", "")) - cost) <= cost * 0.02, (shown, usd(cost))
    errors = sum(r["errors"] for r in rows)
    assert stat(page, "error_rate") == f"{errors / traffic['total'] * 100:.1f} %"
    assert page.locator("figure.chart svg").count() == 4
    shot(page, "overview")
    # Live: the server pushes the stats fragment (Server-Sent Events) after the usage batch is
    # written; the page is not reloaded (a marker set on the window survives).
    assert page.locator("#live").get_attribute("data-stream") == "/ui/overview/stream?range=1h"
    page.evaluate("window.__notReloaded = true")
    c = sdk(gateway, traffic["main"]["key"])
    c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "live"}])
    traffic["total"] += 1
    page.wait_for_function(
        "n => document.querySelector('[data-stat=requests] .value').textContent.trim() === String(n)",
        arg=traffic["total"],
        timeout=20_000,
    )
    assert page.evaluate("window.__notReloaded === true")
    assert page.locator("#live").get_attribute("data-updated")
    # A custom range (UTC dates, both inclusive) covering today shows the same totals.
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    page.goto(f"{gateway}/ui/")
    page.fill("form.custom input[name=from]", today)
    page.fill("form.custom input[name=to]", today)
    page.click("form.custom button[type=submit]")
    page.wait_for_url(f"{gateway}/ui/?from={today}&to={today}")
    assert stat(page, "requests") == str(traffic["total"])


def test_markup_in_a_model_name_is_shown_as_text(admin_page, gateway, traffic):
    page = admin_page
    dialogs = []

    def seen(d):
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", seen)
    try:
        page.goto(f"{gateway}/ui/requests?status=4xx")
        assert page.get_by_text(XSS_MODEL, exact=False).count() >= 1
        assert page.locator("img[src=x]").count() == 0
        assert not dialogs
    finally:
        page.remove_listener("dialog", seen)


def test_a_failed_over_request_shows_its_attempt_chain(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/requests")
    page.fill("input[name=id]", traffic["flaky_request_id"])
    page.click("form.filters button[type=submit]")
    links = page.locator("table.log tbody tr td a")
    assert links.count() == 1
    links.first.click()
    attempts = page.locator("tr.attempt")
    assert attempts.count() == 2
    first, second = attempts.nth(0).inner_text(), attempts.nth(1).inner_text()
    assert "broken" in first and "503" in first and "moved on" in first, first
    assert "up" in second and "served" in second, second
    assert traffic["flaky_request_id"] in page.locator("dl.detail").inner_text()
    # With capture_bodies the bodies are there, collapsed, the key the SDK sent nowhere.
    request = page.locator("details[data-body=request]")
    assert request.get_attribute("open") is None and not request.locator("pre").is_visible()
    request.locator("summary").click()
    text = request.locator("pre").inner_text()
    assert '"fail over"' in text and traffic["main"]["key"] not in page.content()
    page.locator("details[data-body=response] summary").click()
    assert '"chat.completion"' in page.locator("details[data-body=response] pre").inner_text()
    shot(page, "request-detail")


def test_a_conversation_turn_shows_its_cache_verdict(admin_page, gateway, traffic):
    """Two turns of one conversation on the mock's simulated cache (`mock:cache` in the text):
    the log row and the detail page show the second turn's verdict."""
    c = sdk(gateway, traffic["main"]["key"])
    messages = [
        {"role": "system", "content": "You are a patient assistant who answers briefly. " * 120},
        {"role": "user", "content": "mock:cache what is a prompt cache?"},
    ]
    c.chat.completions.create(model="chat", messages=messages, prompt_cache_key="ui-verdict")
    messages += [{"role": "assistant", "content": "A stored prefix."}, {"role": "user", "content": "mock:cache and a hit?"}]
    second = c.chat.completions.with_raw_response.create(model="chat", messages=messages, prompt_cache_key="ui-verdict")
    assert second.parse().usage.prompt_tokens_details.cached_tokens > 0
    traffic["total"] += 2
    wait_for(lambda: sum(r["requests"] for r in admin(gateway, "GET", "/admin/usage")["rows"]) >= traffic["total"], "usage rows")
    page = admin_page
    page.goto(f"{gateway}/ui/requests?id={second.headers['x-crossbar-request-id']}")
    row = page.locator("table.log tbody tr")
    assert row.count() == 1
    cell = row.first.locator("td.verdict")
    assert cell.inner_text() == "hit" and cell.get_attribute("title") == "hit"
    row.first.locator("td a").first.click()
    verdict = page.locator("dd.verdict")
    assert verdict.get_attribute("data-verdict") == "hit", verdict.inner_text()
    shot(page, "request-cache-verdict")
    # The first turn: a miss, and why.
    page.goto(f"{gateway}/ui/requests?model=chat")
    first = page.locator("table.log tbody tr td.verdict[title*='first turn']")
    assert first.count() >= 1
    assert first.first.inner_text() == "miss"


def test_a_refused_request_names_its_rule(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/requests?key={traffic['tight']['record']['id']}&status=4xx")
    rows = page.locator("table.log tbody tr")
    assert rows.count() == 1
    rows.first.locator("td a").first.click()
    assert page.locator("section.refusal [data-rule]").get_attribute("data-rule") == "rpm"
    assert "Resets:" in page.locator("section.refusal").inner_text()
    shot(page, "refusal")


def test_requests_log_filters_and_page(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/requests?client=OpenAI+SDK&status=ok")
    n = page.locator("table.log tbody tr").count()
    assert n >= 5
    assert all("OpenAI SDK" in t for t in page.locator("table.log tbody tr").all_inner_texts())
    shot(page, "requests")


def test_a_key_is_created_used_and_revoked(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/keys")
    page.click("details.panel summary")
    page.fill("details.panel input[name=name]", "from the browser")
    page.fill("details.panel input[name=rpm]", "100")
    page.click("details.panel button[type=submit]")
    secret = page.locator("#new-key").inner_text().strip()
    assert secret.startswith("cb-")
    shot(page, "key-created")
    # Shown once: the keys page does not show it again.
    page.goto(f"{gateway}/ui/keys")
    assert secret not in page.content()
    c = sdk(gateway, secret)
    assert c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "new key"}]).choices
    key_id = secret.split("-")[1]
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.locator(f"tr[data-key='{key_id}'] button.danger").click()
    assert "revoked" in page.locator(f"tr[data-key='{key_id}']").inner_text()
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "after revoke"}])
    shot(page, "keys")


def test_limits_are_set_and_cleared(admin_page, gateway, traffic):
    page = admin_page
    kid = traffic["tight"]["record"]["id"]
    page.goto(f"{gateway}/ui/keys")
    row = page.locator(f"tr[data-key='{kid}']")
    row.locator("summary").click()
    row.locator("input[name=rpm]").fill("")
    row.locator("input[name=budget_usd]").fill("5")
    with page.expect_navigation():
        row.locator("button", has_text="Save limits").click()
    k = admin(gateway, "GET", f"/admin/keys/{kid}")
    assert k["rpm"] is None and k["budget_usd"] == 5.0


def test_csv_export_matches_the_usage_api(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/usage?by=model&range=all")
    shot(page, "usage")
    r = page.request.get(f"{gateway}/ui/usage.csv?by=model&range=all")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    got = list(csv.DictReader(io.StringIO(r.text())))
    want = admin(gateway, "GET", "/admin/usage?group_by=model")["rows"]
    assert [g["group"].lstrip("'") for g in got] == [w["group"] for w in want]
    for g, w in zip(got, want):
        for col in ["requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"]:
            assert int(g[col]) == w[col], (col, g, w)
        assert abs(float(g["cost_usd"]) - w["cost_usd"]) < 1e-9
    # The page's table has the same rows as the CSV.
    assert page.locator("table.usage tbody tr").count() == len(got)


def test_routing_and_models_pages(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/routing")
    assert page.locator("section.route h2", has_text="flaky").count() == 1
    assert page.locator("tr[data-state]").count() >= 3
    page.fill("input[name=explain]", "flaky")
    page.click("section.panel button[type=submit]")
    chosen = page.locator("[data-chosen]").get_attribute("data-chosen")
    assert chosen in ("broken/gpt-5-mini", "up/gpt-5-mini"), chosen
    assert page.locator(".explain li").count() == 2
    shot(page, "routing")
    page.goto(f"{gateway}/ui/models")
    assert "gpt-5-mini" in page.locator("table.models").inner_text()
    shot(page, "models")


def test_accounts_page_without_a_pool_says_how_to_add_one(admin_page, gateway, traffic):
    page = admin_page
    page.goto(f"{gateway}/ui/accounts")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Accounts"
    empty = page.locator(".empty").inner_text()
    assert "kind = \"chatgpt\"" in empty and "crossbar accounts login" in empty and "crossbar accounts import" in empty


def test_an_accounts_windows_show_after_traffic_through_the_pool(browser, pool_gateway):
    key = admin(pool_gateway, "POST", "/admin/keys", json={"name": "pool"})["key"]
    c = sdk(pool_gateway, key)
    ctx, page = sign_in(browser, pool_gateway, ADMIN_KEY, viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{pool_gateway}/ui/accounts")
        account = page.locator("section.account[data-account=acct-ui]")
        assert account.locator(".badge").inner_text() == "active"
        assert "No usage windows read yet" in account.inner_text()
        # The mock reports a 5 h primary window at 100 - headroom % used.
        c.responses.create(model="codex/gpt-5", input="hello", extra_headers={"x-mock": "mock:headroom=80"})
        page.reload()
        row = account.locator("tr[data-window=primary]")
        cells = row.locator("td").all_inner_texts()
        assert cells[:3] == ["primary", "20 %", "5 h"], cells
        assert cells[3] == "not reported" and cells[4].startswith("read ") and cells[4].endswith(" s ago"), cells
        assert cells[5] == "not enough data yet", cells
        # A second, higher reading gives a burn rate and a forecast.
        c.responses.create(model="codex/gpt-5", input="again", extra_headers={"x-mock": "mock:headroom=75"})
        page.reload()
        cells = row.locator("td").all_inner_texts()
        assert cells[1] == "25 %", cells
        assert cells[5].startswith("runs out ") and "%/h" in cells[5], cells
        # Its deployment's routing state; the email is text, not markup.
        assert account.locator("tr[data-state=ready]", has_text="codex:acct-ui/gpt-5").count() == 1
        assert POOL_EMAIL in account.locator("h2").inner_text()
        assert account.locator("h2 b").count() == 0
        assert "Last error" in account.locator("dl.facts").inner_text()
        shot(page, "accounts")
        # The usage page groups by the account that served the requests (and its CSV too),
        # once the recorder has written both (it writes in batches, off the request path).
        wait_for(lambda: sum(r["requests"] for r in admin(pool_gateway, "GET", "/admin/usage")["rows"]) == 2,
                 "both usage rows")
        page.goto(f"{pool_gateway}/ui/usage?by=account&range=all")
        cells = page.locator("table.usage tbody tr").first.locator("td").all_inner_texts()
        assert cells[:3] == ["acct-ui", "2", "0"], cells
        r = page.request.get(f"{pool_gateway}/ui/usage.csv?by=account&range=all")
        assert r.text().splitlines()[1].startswith("acct-ui,2,0,"), r.text()
        shot(page, "usage-by-account")
    finally:
        ctx.close()


def test_a_member_sees_only_their_own_key(browser, gateway, traffic):
    ctx, page = sign_in(browser, gateway, traffic["main"]["key"], viewport={"width": 390, "height": 844})
    try:
        mine = [r for r in admin(gateway, "GET", "/admin/usage")["rows"] if r["group"] == traffic["main"]["record"]["id"]]
        assert stat(page, "requests") == str(mine[0]["requests"])
        shot(page, "member-overview-phone")
        page.goto(f"{gateway}/ui/requests?key={traffic['tight']['record']['id']}")
        assert page.locator("table.log tbody tr").count() == mine[0]["requests"]
        page.goto(f"{gateway}/ui/keys")
        assert page.locator("table.keys tbody tr").count() == 1
        assert traffic["tight"]["record"]["id"] not in page.content()
        for path in ["/ui/usage", "/ui/usage.csv", "/ui/routing", "/ui/accounts", "/ui/models"]:
            assert page.request.get(f"{gateway}{path}").status == 403, path
        r = page.request.post(f"{gateway}/ui/keys", form={"name": "x"}, headers={"origin": gateway})
        assert r.status == 403
        # Another key's request detail is not found for this member.
        other = admin(gateway, "GET", "/admin/keys")
        assert other
        shot(page, "member-keys-phone")
        # The phone menu opens.
        page.click("#nav-toggle")
        assert page.locator("#nav.open").is_visible()
    finally:
        ctx.close()


def test_a_members_session_ends_with_their_key(browser, gateway, traffic):
    k = admin(gateway, "POST", "/admin/keys", json={"name": "short-lived"})
    ctx, page = sign_in(browser, gateway, k["key"])
    try:
        admin(gateway, "POST", f"/admin/keys/{k['record']['id']}/revoke")
        page.goto(f"{gateway}/ui/requests")
        assert page.url.endswith("/ui/signin")
    finally:
        ctx.close()


def test_a_post_without_csrf_token_or_from_elsewhere_is_refused(admin_page, gateway, traffic):
    page = admin_page
    before = len(admin(gateway, "GET", "/admin/keys")["keys"])
    r = page.request.post(f"{gateway}/ui/keys", form={"name": "no token"}, headers={"origin": gateway})
    assert r.status == 403
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    r = page.request.post(f"{gateway}/ui/keys", form={"name": "elsewhere", "csrf": token}, headers={"origin": "http://evil.example"})
    assert r.status == 403
    assert len(admin(gateway, "GET", "/admin/keys")["keys"]) == before


def test_a_forged_session_is_refused(browser, gateway, traffic):
    ctx = browser.new_context()
    host = gateway.split("//")[1].split(":")[0]
    ctx.add_cookies([{"name": "crossbar_session", "value": secrets.token_hex(32), "domain": host, "path": "/ui"}])
    page = ctx.new_page()
    page.goto(f"{gateway}/ui/keys")
    assert page.url.endswith("/ui/signin")
    r = page.request.post(f"{gateway}/ui/keys", form={"name": "forged"}, headers={"origin": gateway})
    assert r.status == 401
    ctx.close()


def test_sign_out_ends_the_session(browser, gateway, traffic):
    ctx, page = sign_in(browser, gateway, ADMIN_KEY)
    cookie = [c for c in ctx.cookies() if c["name"] == "crossbar_session"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    page.click("text=Sign out")
    page.wait_for_url(f"{gateway}/ui/signin")
    # The old cookie no longer opens anything.
    r = httpx.get(f"{gateway}/ui/", cookies={"crossbar_session": cookie["value"]}, follow_redirects=False)
    assert r.status_code == 303
    ctx.close()


def test_zz_failed_sign_ins_are_rate_limited(browser, gateway):
    """Last: it locks 127.0.0.1 out of signing in for a minute."""
    ctx = browser.new_context()
    page = ctx.new_page()
    statuses = []
    for _ in range(11):
        page.goto(f"{gateway}/ui/signin")
        page.fill("#key", "cb-000000000000-" + "0" * 48)
        with page.expect_response(lambda r: r.url.endswith("/ui/signin") and r.request.method == "POST") as resp:
            page.click("button[type=submit]")
        statuses.append(resp.value.status)
    assert statuses[:10] == [401] * 10 and statuses[10] == 429, statuses
    assert "Too many failed sign-ins" in page.content()
    shot(page, "signin-rate-limited")
    ctx.close()
