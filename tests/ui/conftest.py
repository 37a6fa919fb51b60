"""A live crossbar (with [auth] and an admin key) in front of the mock upstream, real traffic
from the official OpenAI SDK, and Playwright driving Debian's chromium (`/usr/bin/chromium`, or
$CROSSBAR_CHROMIUM). Screenshots go to tests/ui/artifacts/ (gitignored)."""
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import crossbar_binary, free_port, mock_requests, mock_url, wait_ready  # noqa: E402,F401

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ADMIN_KEY = "admin-" + secrets.token_hex(16)
XSS_MODEL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def gateway(mock_url):
    port = free_port()
    data = tempfile.mkdtemp(prefix="crossbar-ui-")
    config = Path(data) / "crossbar.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"

[auth]

[storage]
capture_bodies = true

[[providers]]
name = "up"
kind = "openai-chat"
base_url = "{mock_url}/v1"
api_key = "sk-up"

[[providers]]
name = "broken"
kind = "openai-chat"
base_url = "{mock_url}/v1"
api_key = "sk-broken"
headers = {{ "x-mock" = "mock:fail-rate=1 mock:fail-status=503" }}

[[models]]
name = "chat"
targets = ["up/gpt-5-mini"]

[[models]]
name = "flaky"
strategy = "priority"
targets = ["broken/gpt-5-mini", "up/gpt-5-mini"]
"""
    )
    env = dict(os.environ, CROSSBAR_ADMIN_KEY=ADMIN_KEY)
    proc = subprocess.Popen([crossbar_binary(), "serve", "--config", str(config)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/healthz", proc, "crossbar")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


POOL_EMAIL = "<b>pool</b>@example.com"


def serve_with_account(mock_url, name, providers, email, account_id):
    """A crossbar of its own (data dir `crossbar-ui-NAME-*`, `[auth]` on) with the given
    `[[providers]]`/`[[models]]` text (`{mock_url}` filled in), and one ChatGPT account imported
    from a Codex auth.json for `email`; yields its URL and stops it afterwards."""
    import base64
    import json

    port = free_port()
    data = Path(tempfile.mkdtemp(prefix=f"crossbar-ui-{name}-"))
    config = data / "crossbar.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"

[auth]
"""
        + providers.replace("{mock_url}", mock_url)
    )
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    id_token = f"{b64(b'{}')}.{b64(json.dumps({'email': email}).encode())}.sig"
    auth = data / "auth.json"
    tokens = {"access_token": f"{name}-access", "refresh_token": f"{name}-refresh", "id_token": id_token, "account_id": account_id}
    auth.write_text(json.dumps({"tokens": tokens}))
    subprocess.run([crossbar_binary(), "accounts", "--config", str(config), "import", str(auth)], check=True, capture_output=True, timeout=60)
    env = dict(os.environ, CROSSBAR_ADMIN_KEY=ADMIN_KEY)
    proc = subprocess.Popen([crossbar_binary(), "serve", "--config", str(config)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/healthz", proc, "crossbar")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture(scope="session")
def pool_gateway(mock_url):
    """A second crossbar whose `chatgpt` provider pools one account (imported from a Codex
    auth.json, with markup in its email) on the mock's Codex backend and OAuth."""
    yield from serve_with_account(
        mock_url,
        "pool",
        """
[[providers]]
name = "codex"
kind = "chatgpt"
base_url = "{mock_url}"
token_url = "{mock_url}/oauth/token"
issuer = "{mock_url}"
""",
        POOL_EMAIL,
        "acct-ui",
    )


def admin(gateway, method, path, **kw):
    r = httpx.request(method, f"{gateway}{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10, **kw)
    assert r.status_code < 300, r.text
    return r.json()


def wait_for(check, what, timeout=15.0):
    """Poll `check` until it returns something truthy (usage is written in batches)."""
    deadline = time.time() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def sdk(gateway, key):
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="session")
def traffic(gateway):
    """Real requests through the OpenAI SDK: plain ones, a failed-over one, a refused one."""
    main = admin(gateway, "POST", "/admin/keys", json={"name": "traffic"})
    tight = admin(gateway, "POST", "/admin/keys", json={"name": "tight", "rpm": 1})
    c = sdk(gateway, main["key"])
    for i in range(3):
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"hello {i}"}])
    flaky = c.chat.completions.with_raw_response.create(model="flaky", messages=[{"role": "user", "content": "fail over"}])
    assert flaky.headers["x-crossbar-attempts"] == "2"
    t = sdk(gateway, tight["key"])
    t.chat.completions.create(model="chat", messages=[{"role": "user", "content": "first"}])
    with pytest.raises(openai.RateLimitError):
        t.chat.completions.create(model="chat", messages=[{"role": "user", "content": "second"}])
    # A model name that is markup: refused as unknown, recorded, and shown escaped.
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model=XSS_MODEL, messages=[{"role": "user", "content": "x"}])
    total = 7
    wait_for(lambda: sum(r["requests"] for r in admin(gateway, "GET", "/admin/usage")["rows"]) >= total, "usage rows")
    return {
        "main": main,
        "tight": tight,
        "total": total,
        "flaky_request_id": flaky.headers["x-crossbar-request-id"],
    }


@pytest.fixture(scope="session")
def browser():
    exe = os.environ.get("CROSSBAR_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(browser, gateway, key, **context_args):
    ctx = browser.new_context(**context_args)
    page = ctx.new_page()
    page.goto(f"{gateway}/ui/")
    assert page.url.endswith("/ui/signin"), page.url
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{gateway}/ui/")
    return ctx, page


@pytest.fixture(scope="session")
def admin_page(browser, gateway, traffic):
    ctx, page = sign_in(browser, gateway, ADMIN_KEY, viewport={"width": 1280, "height": 800})
    yield page
    ctx.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
