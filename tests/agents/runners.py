"""How each agent is configured and run non-interactively against crossbar, and how its own
JSON output is read back. Every run has a `timeout` and only loopback is reachable."""
import json
import re
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from conftest import client_bin

RUN_TIMEOUT = 120
DUMMY_KEY = "sk-crossbar-dummy"


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    events: list = field(default_factory=list)

    def describe(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-4000:]}"


def _run(argv, sandbox, env_extra=None, cwd=None) -> Run:
    env = dict(sandbox["env"], **(env_extra or {}))
    try:
        p = subprocess.run(
            ["timeout", "-k", "5", str(RUN_TIMEOUT), *argv],
            cwd=cwd or sandbox["work"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT + 20,
        )
    except subprocess.TimeoutExpired as e:
        return Run(124, e.stdout or "", e.stderr or "")
    return Run(p.returncode, p.stdout, p.stderr)


def _ndjson(text: str) -> list:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


def _last_json(text: str):
    """The JSON document an agent printed (the last top-level object in stdout)."""
    start = text.find("{")
    while start != -1:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
    return None


# ---------------------------------------------------------------- Codex

AUTH_COMMAND = '\n[model_providers.crossbar.auth]\ncommand = "printenv"\nargs = ["CROSSBAR_API_KEY"]\n'


def codex_config(gateway_url: str, model: str, backend: bool = False, extra: str = "", auth_command: bool = True, websockets: bool = False) -> str:
    """Codex's config.toml for crossbar. With an auth command (as `crossbar setup codex` writes)
    Codex fetches crossbar's model catalog; with a bare `env_key` it never does, and falls back
    to generic metadata (no apply_patch tool)."""
    base = f"{gateway_url}/backend-api/codex" if backend else f"{gateway_url}/v1"
    name = "OpenAI" if backend else "crossbar"
    return f"""model_provider = "crossbar"
model = "{model}"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.crossbar]
name = "{name}"
base_url = "{base}"
wire_api = "responses"
{'' if auth_command else 'env_key = "CROSSBAR_API_KEY"'}
request_max_retries = 0
stream_max_retries = 0
{'supports_websockets = true' if websockets else ''}
{AUTH_COMMAND if auth_command else ''}{extra}"""


def run_codex(sandbox, gateway_url: str, model: str, prompt: str, backend: bool = False, extra_config: str = "", args=(), auth_command: bool = True, websockets: bool = False) -> Run:
    codex_home = sandbox["home"] / ".codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(gateway_url, model, backend, extra_config, auth_command, websockets))
    argv = [
        client_bin("codex"),
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        *args,
        prompt,
    ]
    r = _run(argv, sandbox, {"CODEX_HOME": str(codex_home), "CROSSBAR_API_KEY": DUMMY_KEY})
    r.events = _ndjson(r.stdout)
    return r


def codex_items(run: Run, kind: str) -> list:
    return [e["item"] for e in run.events if e.get("type") == "item.completed" and e.get("item", {}).get("type") == kind]


# ---------------------------------------------------------------- Claude Code


def run_claude(sandbox, gateway_url: str, model: str, prompt: str) -> Run:
    argv = [
        client_bin("claude"),
        "-p",
        prompt,
        "--output-format",
        "json",
        "--model",
        model,
        "--allowedTools",
        "Bash(echo:*)",
    ]
    r = _run(argv, sandbox, {"ANTHROPIC_BASE_URL": gateway_url, "ANTHROPIC_API_KEY": DUMMY_KEY})
    doc = _last_json(r.stdout)
    r.events = [doc] if doc is not None else []
    return r


# ---------------------------------------------------------------- OpenCode


def opencode_config(gateway_url: str, model: str, wiring: str = "chat") -> dict:
    model_entry = {"tool_call": True, "limit": {"context": 200000, "output": 8192}}
    if wiring == "chat":
        provider_id = "gw"
        provider = {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": f"{gateway_url}/v1", "apiKey": DUMMY_KEY}}
    else:  # built-in "openai" (Responses) or "anthropic" (Messages)
        provider_id = wiring
        provider = {"options": {"baseURL": f"{gateway_url}/v1", "apiKey": DUMMY_KEY}}
    provider["models"] = {model: model_entry}
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": f"{provider_id}/{model}",
        "small_model": f"{provider_id}/{model}",
        "provider": {provider_id: provider},
        "permission": {"bash": "allow", "edit": "allow", "webfetch": "deny"},
        "autoupdate": False,
        "share": "disabled",
    }


def run_opencode(sandbox, gateway_url: str, model: str, prompt: str, wiring: str = "chat", env_extra=None) -> Run:
    config = opencode_config(gateway_url, model, wiring)
    (sandbox["work"] / "opencode.json").write_text(json.dumps(config, indent=2))
    argv = [client_bin("opencode"), "run", "--pure", "-m", config["model"], "--format", "json", prompt]
    r = _run(argv, sandbox, env_extra)
    r.events = _ndjson(r.stdout)
    return r


# ---------------------------------------------------------------- Gemini CLI


def run_gemini(sandbox, gateway_url: str, model: str, prompt: str) -> Run:
    gemini_dir = sandbox["home"] / ".gemini"
    gemini_dir.mkdir(exist_ok=True)
    settings = {
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
        "security": {"folderTrust": {"enabled": False}, "auth": {"selectedType": "gemini-api-key"}},
    }
    (gemini_dir / "settings.json").write_text(json.dumps(settings))
    argv = [client_bin("gemini"), "-p", prompt, "--output-format", "json", "--yolo", "-m", model]
    r = _run(argv, sandbox, {"GOOGLE_GEMINI_BASE_URL": gateway_url, "GEMINI_API_KEY": DUMMY_KEY})
    doc = _last_json(r.stdout)
    r.events = [doc] if doc is not None else []
    return r


# ---------------------------------------------------------------- crossbar


def ws_responses(gateway) -> int:
    """Responses crossbar has served over WebSocket (`crossbar_websocket_responses_total`)."""
    text = urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10).read().decode()
    m = re.search(r"^crossbar_websocket_responses_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0
