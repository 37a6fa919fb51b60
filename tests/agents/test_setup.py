"""`crossbar setup <agent>` then the real agent, with nothing but what setup wrote pointing it
at crossbar; and `crossbar doctor` against the same gateway."""
import json
import os
import subprocess

import pytest

from conftest import _binary, client_bin
from runners import _last_json, _ndjson, _run, codex_items, ws_responses

PROMPT = "Run the echo command with your shell tool, then tell me what it printed. mock:tool"
MODEL = "via-anthropic"


def crossbar(sandbox, *args):
    env = dict(sandbox["env"])
    return subprocess.run([_binary(), *args], env=env, capture_output=True, text=True, timeout=60)


def setup(sandbox, gateway, agent, *extra):
    p = crossbar(sandbox, "setup", agent, "--url", gateway.url, "--model", MODEL, *extra)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_setup_codex_then_codex_runs(sandbox, gateway):
    cfg = sandbox["home"] / ".codex" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('# my settings\napproval_policy = "never"\n')
    out = setup(sandbox, gateway, "codex")
    assert "backup" in out, out
    assert 'approval_policy = "never"' in cfg.read_text()
    assert "supports_websockets = true" in cfg.read_text()
    before = ws_responses(gateway)
    backups = list(cfg.parent.glob("config.toml.crossbar-backup-*"))
    assert len(backups) == 1 and backups[0].read_text().startswith("# my settings")
    argv = [client_bin("codex"), "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", PROMPT]
    run = _run(argv, sandbox)
    run.events = _ndjson(run.stdout)
    assert run.rc == 0, run.describe()
    assert any("mock-tool-ran" in (c.get("aggregated_output") or "") for c in codex_items(run, "command_execution")), run.describe()
    assert not any("fallback metadata" in i.get("message", "") for i in codex_items(run, "error")), run.describe()
    assert ws_responses(gateway) - before >= 2, "the set-up Codex talks to crossbar over WebSocket"


def test_setup_claude_code_then_claude_runs(sandbox, gateway):
    setup(sandbox, gateway, "claude-code")
    settings = json.loads((sandbox["home"] / ".claude" / "settings.json").read_text())
    assert settings["env"]["ANTHROPIC_BASE_URL"] == gateway.url
    argv = [client_bin("claude"), "-p", PROMPT, "--output-format", "json", "--allowedTools", "Bash(echo:*)"]
    run = _run(argv, sandbox)
    doc = _last_json(run.stdout) or {}
    assert run.rc == 0 and "mock-tool-ran" in doc.get("result", ""), run.describe()


def test_setup_opencode_then_opencode_runs(sandbox, gateway):
    setup(sandbox, gateway, "opencode")
    argv = [client_bin("opencode"), "run", "--pure", "--format", "json", PROMPT]
    run = _run(argv, sandbox, {"OPENCODE_PERMISSION": json.dumps({"bash": "allow"})})
    events = _ndjson(run.stdout)
    texts = [str(e.get("part", {}).get("text", "")) for e in events if e.get("type") == "text"]
    assert run.rc == 0 and any("mock-tool-ran" in t for t in texts), run.describe()


def test_setup_gemini_then_gemini_runs(sandbox, gateway):
    gemini_dir = sandbox["home"] / ".gemini"
    gemini_dir.mkdir()
    (gemini_dir / "settings.json").write_text(json.dumps({"privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False}}))
    setup(sandbox, gateway, "gemini")
    settings = json.loads((gemini_dir / "settings.json").read_text())
    assert settings["privacy"]["usageStatisticsEnabled"] is False, "kept"
    argv = [client_bin("gemini"), "-p", PROMPT, "--output-format", "json", "--yolo"]
    run = _run(argv, sandbox)
    doc = _last_json(run.stdout) or {}
    assert run.rc == 0 and "mock-tool-ran" in doc.get("response", ""), run.describe()


def test_setup_print_writes_nothing(sandbox, gateway):
    out = setup(sandbox, gateway, "opencode", "--print")
    assert '"baseURL": "' + gateway.url + '/v1"' in out, out
    assert not (sandbox["home"] / ".config" / "opencode" / "opencode.json").exists()


def test_doctor_passes_then_names_the_fix(sandbox, gateway):
    bins = os.pathsep.join(os.path.dirname(client_bin(a)) for a in ("codex", "claude", "opencode", "gemini"))
    sandbox["env"]["PATH"] = bins + os.pathsep + sandbox["env"]["PATH"]
    for agent in ("codex", "claude-code", "opencode", "gemini"):
        setup(sandbox, gateway, agent)
    p = crossbar(sandbox, "doctor", "--url", gateway.url)
    assert p.returncode == 0, p.stdout + p.stderr
    for name in ("models", "chat", "responses", "anthropic", "gemini", "codex", "claude-code", "opencode"):
        assert any(line.startswith("ok") and f" {name} " in line for line in p.stdout.splitlines()), (name, p.stdout)

    settings = sandbox["home"] / ".claude" / "settings.json"
    settings.write_text(json.dumps({"env": {"ANTHROPIC_BASE_URL": "https://api.anthropic.com"}}))
    p = crossbar(sandbox, "doctor", "--url", gateway.url)
    assert p.returncode == 1, p.stdout
    assert f"fix: crossbar setup claude-code --url {gateway.url}" in p.stdout, p.stdout


def test_doctor_reports_an_unreachable_gateway(sandbox):
    p = crossbar(sandbox, "doctor", "--url", "http://127.0.0.1:9")
    assert p.returncode == 1
    assert "FAIL models" in p.stdout and "crossbar serve" in p.stdout, p.stdout
