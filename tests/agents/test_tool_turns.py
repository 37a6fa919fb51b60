"""Each agent × each upstream kind: a two-step tool turn through crossbar.

The prompt carries `mock:tool`, so the mock upstream asks for the agent's shell tool with a
command running `echo mock-tool-ran`; the agent runs it and sends the result back; the mock's
final answer quotes it (`MOCK_FINAL: the tool said: …`). Assertions read the agent's own JSON
output, and the mock's request log proves the upstream kind really was used.
"""
import pytest

from conftest import KIND_PATH, KINDS
from runners import codex_items, run_claude, run_codex, run_gemini, run_opencode

PROMPT = "Run the echo command with your shell tool, then tell me what it printed. mock:tool"


def _upstream_hits(requests, kind):
    return [r for r in requests if KIND_PATH[kind] in r["path"]]


def _check_upstream(requests, kind, run):
    hits = _upstream_hits(requests, kind)
    assert len(hits) >= 2, f"the mock saw {len(hits)} {kind} requests\n{run.describe()}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_codex(sandbox, gateway, mock_requests, kind):
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], PROMPT)
    assert run.rc == 0, run.describe()
    commands = codex_items(run, "command_execution")
    assert any("mock-tool-ran" in (c.get("aggregated_output") or "") for c in commands), run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    assert any(e.get("type") == "turn.completed" for e in run.events), run.describe()
    _check_upstream(mock_requests(), kind, run)


@pytest.mark.parametrize("kind", list(KINDS))
def test_claude_code(sandbox, gateway, mock_requests, kind):
    run = run_claude(sandbox, gateway.url, KINDS[kind][1], PROMPT)
    assert run.rc == 0, run.describe()
    doc = run.events[0] if run.events else {}
    assert doc.get("is_error") is False, run.describe()
    assert "MOCK_FINAL" in doc.get("result", "") and "mock-tool-ran" in doc.get("result", ""), run.describe()
    assert doc.get("num_turns", 0) >= 2, run.describe()
    _check_upstream(mock_requests(), kind, run)


@pytest.mark.parametrize("kind", list(KINDS))
def test_opencode(sandbox, gateway, mock_requests, kind):
    run = run_opencode(sandbox, gateway.url, KINDS[kind][1], PROMPT)
    assert run.rc == 0, run.describe()
    tools = [e for e in run.events if e.get("type") == "tool_use"]
    assert any("mock-tool-ran" in str(e.get("part", {}).get("state", {}).get("output", "")) for e in tools), run.describe()
    texts = [str(e.get("part", {}).get("text", "")) for e in run.events if e.get("type") == "text"]
    assert any("MOCK_FINAL" in t and "mock-tool-ran" in t for t in texts), run.describe()
    _check_upstream(mock_requests(), kind, run)


@pytest.mark.parametrize("kind", list(KINDS))
def test_gemini_cli(sandbox, gateway, mock_requests, kind):
    run = run_gemini(sandbox, gateway.url, KINDS[kind][1], PROMPT)
    assert run.rc == 0, run.describe()
    doc = run.events[0] if run.events else {}
    response = doc.get("response", "")
    assert "MOCK_FINAL" in response and "mock-tool-ran" in response, run.describe()
    _check_upstream(mock_requests(), kind, run)


@pytest.mark.parametrize("wiring,kind", [("openai", "gemini"), ("anthropic", "openai-chat")])
def test_opencode_builtin_providers(sandbox, gateway, mock_requests, wiring, kind):
    """OpenCode's built-in `openai` (Responses) and `anthropic` (Messages) providers."""
    run = run_opencode(sandbox, gateway.url, KINDS[kind][1], PROMPT, wiring=wiring)
    assert run.rc == 0, run.describe()
    texts = [str(e.get("part", {}).get("text", "")) for e in run.events if e.get("type") == "text"]
    assert any("MOCK_FINAL" in t and "mock-tool-ran" in t for t in texts), run.describe()
    _check_upstream(mock_requests(), kind, run)
