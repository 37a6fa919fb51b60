"""End-to-end harness for the coding agents (Codex CLI, Claude Code, OpenCode, Gemini CLI).

Installs the pinned CLIs with npm into a cache directory outside the repository (only when
missing), starts the mock upstream and crossbar (the real binary) on free loopback ports with
one provider per upstream kind, all pointing at the mock, and gives each test a private home
(HOME, CODEX_HOME, XDG dirs) with every telemetry and update opt-out set.

Model aliases `via-<kind>` route to the provider of that kind, so every agent can name each
upstream kind with a plain model name.
"""
import json
import os
import sys
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import crossbar_binary as _binary, free_port, mock_requests, mock_url, wait_ready as _wait  # noqa: E402,F401

CLIENTS = Path(os.environ.get("CROSSBAR_CLIENTS_DIR", Path.home() / ".cache" / "crossbar-clients"))

# name → (npm package pinned, the bin it provides)
PINNED = {
    "codex": ("@openai/codex@0.169.0", "codex"),
    "claude": ("@anthropic-ai/claude-code@2.1.197", "claude"),
    "opencode": ("opencode-ai@1.18.33", "opencode"),
    "gemini": ("@google/gemini-cli@0.61.0", "gemini"),
}

# upstream kind → (crossbar provider name, alias the agents use)
KINDS = {
    "openai-responses": ("up-responses", "via-responses"),
    "openai-chat": ("up-chat", "via-chat"),
    "anthropic": ("up-anthropic", "via-anthropic"),
    "gemini": ("up-gemini", "via-gemini"),
    # A ChatGPT account pool (the Codex backend), with one account imported before start.
    "chatgpt": ("up-chatgpt", "via-chatgpt"),
}

# An `openai` provider with `websocket = true` (crossbar's native upstream socket), and its alias.
WS_NATIVE = ("up-openai-ws", "via-openai-ws")

# Alias of the Gemini upstream in the mock's Gemini 3 mode (see docs/mock-upstream.md).
GEMINI_3 = "via-gemini-3"

# Where the mock sees each upstream kind's generation requests.
KIND_PATH = {
    "openai-responses": "/v1/responses",
    "openai-chat": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": ":streamGenerateContent",
    "chatgpt": "/backend-api/codex/responses",
}


def client_bin(name: str) -> str:
    """The pinned CLI `name`, installed with npm into CLIENTS/<name> when missing."""
    package, bin_name = PINNED[name]
    prefix = CLIENTS / name
    binary = prefix / "node_modules" / ".bin" / bin_name
    stamp = prefix / ".installed"
    if binary.exists() and stamp.exists() and stamp.read_text() == package:
        return str(binary)
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to install the pinned coding agents (see README: Test it)")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), package],
        check=True,
        timeout=900,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(package)
    return str(binary)


def gateway_config(port: int, data: str, mock_url: str, extra: str = "") -> str:
    providers = {
        "up-chat": ("openai-chat", f"{mock_url}/v1"),
        "up-responses": ("openai-responses", f"{mock_url}/v1"),
        "up-anthropic": ("anthropic", mock_url),
        "up-gemini": ("gemini", mock_url),
    }
    text = f'[server]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{data}"\n'
    for name, (kind, base) in providers.items():
        text += f'\n[[providers]]\nname = "{name}"\nkind = "{kind}"\nbase_url = "{base}"\napi_key = "sk-{name}"\n'
    text += f'\n[[providers]]\nname = "up-chatgpt"\nkind = "chatgpt"\nbase_url = "{mock_url}"\ntoken_url = "{mock_url}/oauth/token"\n'
    for provider, alias in KINDS.values():
        text += f'\n[[models]]\nname = "{alias}"\ntargets = ["{provider}/mock-model"]\n'
    # An OpenAI upstream reached over its own WebSocket: a client socket gets an upstream socket.
    text += f'\n[[providers]]\nname = "{WS_NATIVE[0]}"\nkind = "openai"\nbase_url = "{mock_url}/v1"\napi_key = "sk-ws"\nwebsocket = true\n'
    text += f'\n[[models]]\nname = "{WS_NATIVE[1]}"\ntargets = ["{WS_NATIVE[0]}/mock-model"]\n'
    # The mock's Gemini 3 mode (signs every step's first functionCall, refuses one that comes back
    # without its exact signature), named by the model.
    text += f'\n[[models]]\nname = "{GEMINI_3}"\ntargets = ["up-gemini/gemini-3-pro-preview"]\n'
    return text + extra


def import_account(config: Path, data: Path) -> None:
    """One ChatGPT account for the `chatgpt` pool, from a Codex auth.json (opaque tokens)."""
    auth = data / "auth.json"
    auth.write_text(json.dumps({"tokens": {"access_token": "agents-access", "refresh_token": "agents-refresh", "account_id": "acct-agents"}}))
    subprocess.run([_binary(), "accounts", "--config", str(config), "import", str(auth)], check=True, capture_output=True, timeout=60)


_GATEWAY_LOG: list = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the tail of crossbar's log (what it received, sent and refused)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and _GATEWAY_LOG:
        text = _GATEWAY_LOG[0].read_text(errors="replace") if _GATEWAY_LOG[0].exists() else ""
        report.sections.append(("crossbar log (tail)", text[-8000:]))


class Gateway:
    def __init__(self, url: str, log: Path):
        self.url = url
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def gateway(mock_url):
    port = free_port()
    data = tempfile.mkdtemp(prefix="crossbar-agents-")
    config = Path(data) / "crossbar.toml"
    config.write_text(gateway_config(port, data, mock_url))
    import_account(config, Path(data))
    log = Path(data) / "crossbar.log"
    _GATEWAY_LOG[:] = [log]
    with open(log, "wb") as out:
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        proc = subprocess.Popen([_binary(), "serve", "--config", str(config)], stdout=out, stderr=out, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/healthz", proc, "crossbar")
        yield Gateway(url, log)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def sandbox(tmp_path):
    """A private home and work dir, and the environment every agent runs with: no telemetry,
    no update checks, egress through a dead loopback proxy (only loopback is reachable)."""
    return make_sandbox(tmp_path)


def make_sandbox(tmp_path: Path) -> dict:
    """The `sandbox` fixture's value, under `tmp_path` (also used by bench/record_sessions.py)."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    for d in (home, work, home / ".config", home / ".local/share", home / ".cache", home / ".local/state"):
        d.mkdir(parents=True, exist_ok=True)
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "HTTPS_PROXY": dead,
        "HTTP_PROXY": dead,
        "https_proxy": dead,
        "http_proxy": dead,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "CI": "1",
        "NO_BROWSER": "1",
        # Claude Code
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_BUG_COMMAND": "1",
        # OpenCode
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_SHARE": "1",
        "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        "OPENCODE_DISABLE_CLAUDE_CODE": "1",
        "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
        # Gemini CLI
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    return {"home": home, "work": work, "env": env, "tmp": tmp_path}
