"""The Accounts page's actions in a real browser, on the pool gateway (one imported account,
acct-ui, which these tests leave as they found it): an account added by a device-code login
started from the page (link and code shown; the page completes by itself once the code is
entered, which the mock's device flow does on its second poll), then disabled, enabled and
removed with the page's CSRF-checked forms; the admin API agrees at each step."""
from conftest import ADMIN_KEY, admin, shot, sign_in


def stored(gateway):
    return {a["id"]: a for a in admin(gateway, "GET", "/admin/accounts")["data"]}


def test_an_account_is_added_by_device_code_disabled_enabled_and_removed(browser, pool_gateway, mock_url):
    ctx, page = sign_in(browser, pool_gateway, ADMIN_KEY, viewport={"width": 1280, "height": 800})
    try:
        before = stored(pool_gateway)
        page.goto(f"{pool_gateway}/ui/accounts")
        page.click("form.add-account button[type=submit]")
        page.wait_for_url("**/ui/accounts/login?t=*")
        code = page.locator("#user-code").inner_text()
        assert code.startswith("MOCK-"), code
        link = page.locator("section.sign-in a[target=_blank]")
        assert link.get_attribute("href") == f"{mock_url}/codex/device"
        shot(page, "accounts-sign-in")
        # The page reloads itself (one poll each time) until the code has been entered.
        page.wait_for_url("**/ui/accounts?added=*", timeout=20_000)
        added = page.url.rsplit("added=", 1)[1]
        assert added.startswith("mock-account-") and added not in before, added
        account = page.locator(f"section.account[data-account={added}]")
        assert account.locator(".badge").inner_text() == "active"
        assert stored(pool_gateway)[added]["pooled"] is True
        assert "mock-refresh" not in page.content() and "eyJ" not in page.content(), "no token on the page"

        account.locator("form[action$=disable] button").click()
        page.wait_for_url(f"{pool_gateway}/ui/accounts")
        assert account.locator(".badge").inner_text() == "disabled"
        assert stored(pool_gateway)[added]["disabled"] is True

        account.locator("form[action$=enable] button").click()
        page.wait_for_url(f"{pool_gateway}/ui/accounts")
        assert account.locator(".badge").inner_text() == "active"
        assert stored(pool_gateway)[added]["disabled"] is False

        page.once("dialog", lambda d: d.accept())
        account.locator("form[action$=remove] button").click()
        page.wait_for_url(f"{pool_gateway}/ui/accounts")
        assert account.count() == 0
        assert set(stored(pool_gateway)) == set(before)
    finally:
        ctx.close()


def test_account_actions_need_the_csrf_token_and_this_origin(browser, pool_gateway):
    ctx, page = sign_in(browser, pool_gateway, ADMIN_KEY)
    try:
        page.goto(f"{pool_gateway}/ui/accounts")
        r = page.request.post(f"{pool_gateway}/ui/accounts/acct-ui/disable", form={}, headers={"origin": pool_gateway})
        assert r.status == 403
        token = page.locator("input[name=csrf]").first.get_attribute("value")
        r = page.request.post(
            f"{pool_gateway}/ui/accounts/acct-ui/remove", form={"csrf": token}, headers={"origin": "http://evil.example"}
        )
        assert r.status == 403
        r = page.request.post(f"{pool_gateway}/ui/accounts/login", form={"csrf": token}, headers={"origin": "http://evil.example"})
        assert r.status == 403
        # A valid form for an action that does not exist changes nothing.
        r = page.request.post(f"{pool_gateway}/ui/accounts/acct-ui/purge", form={"csrf": token}, headers={"origin": pool_gateway})
        assert r.status == 404
        a = stored(pool_gateway)["acct-ui"]
        assert a["disabled"] is False
    finally:
        ctx.close()
