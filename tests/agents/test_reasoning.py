"""Reasoning continuity for Gemini CLI (Codex's is in test_codex.py. Claude Code 2.1.197's
`-p` tool turn sent no thinking block back in its second request here, even on the plain
Anthropic relay, so there is nothing to assert for it): the upstream's own reasoning state (Anthropic
signature, Gemini thought signature, Responses encrypted_content) travels through the agent's
protocol (sealed by crossbar when it is foreign) and reaches the upstream on the next request.
The Gemini 3 runs (every agent, OpenCode on each of its wirings) are at the end."""
import base64

import pytest

from conftest import GEMINI_3, KINDS
from runners import codex_items, run_claude, run_codex, run_gemini, run_opencode

PROMPT = "Think, then run the echo command with your shell tool. mock:tool mock:reasoning"

MARKERS = {
    "anthropic": "bW9jay1zaWduYXR1cmU=",
    "gemini": "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==",
}


def _assert_state_came_back(posts, kind, run):
    marker = MARKERS[kind]
    assert len(posts) >= 2, run.describe()
    assert marker not in str(posts[0]["body"])
    assert marker in str(posts[1]["body"]), f"{posts[1]['body']}\n{run.describe()}"


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_gemini_cli_replays_reasoning_state(sandbox, gateway, mock_requests, kind):
    run = run_gemini(sandbox, gateway.url, KINDS[kind][1], PROMPT)
    assert run.rc == 0, run.describe()
    assert "mock-tool-ran" in (run.events[0] if run.events else {}).get("response", ""), run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    _assert_state_came_back(posts, kind, run)


# Gemini 3: the thought signature sits on the functionCall part itself, and a follow-up whose
# call comes back without its exact signature is refused (the mock's Gemini 3 mode refuses it
# with the real API's 400). Codex (Responses) and Claude Code (Anthropic) have no slot for it:
# crossbar seals it into the call id, which every client hands back with the tool result.
G3_PROMPT = "Run the echo command with your shell tool, then tell me what it printed. mock:tool"


def _g3_posts(mock_requests):
    return [r for r in mock_requests() if r["method"] == "POST" and "gemini-3" in r["path"]]


def _assert_call_signed(posts, run):
    """Every request that replays the model's call (one call per step here) carries the exact
    signature the mock gave it (agents send other requests too, e.g. OpenCode's title)."""
    calls = [
        p
        for post in posts
        for c in post["body"].get("contents", [])
        if c.get("role") == "model"
        for p in c["parts"]
        if "functionCall" in p
    ]
    assert calls, f"no request replayed the call\n{run.describe()}"
    for call in calls:
        expected = base64.b64encode(f"mock-g3-call:{call['functionCall']['id']}".encode()).decode()
        assert call.get("thoughtSignature") == expected, f"{call}\n{run.describe()}"


def test_codex_tool_turn_on_gemini_3(sandbox, gateway, mock_requests):
    run = run_codex(sandbox, gateway.url, GEMINI_3, G3_PROMPT)
    assert run.rc == 0, run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    _assert_call_signed(_g3_posts(mock_requests), run)


def test_claude_code_tool_turn_on_gemini_3(sandbox, gateway, mock_requests):
    run = run_claude(sandbox, gateway.url, GEMINI_3, G3_PROMPT)
    assert run.rc == 0, run.describe()
    doc = run.events[0] if run.events else {}
    assert doc.get("is_error") is False, run.describe()
    assert "MOCK_FINAL" in doc.get("result", "") and "mock-tool-ran" in doc.get("result", ""), run.describe()
    _assert_call_signed(_g3_posts(mock_requests), run)


def test_gemini_cli_tool_turn_on_gemini_3(sandbox, gateway, mock_requests):
    run = run_gemini(sandbox, gateway.url, GEMINI_3, G3_PROMPT)
    assert run.rc == 0, run.describe()
    assert "mock-tool-ran" in (run.events[0] if run.events else {}).get("response", ""), run.describe()
    _assert_call_signed(_g3_posts(mock_requests), run)


@pytest.mark.parametrize("wiring", ["chat", "openai", "anthropic"])
def test_opencode_tool_turn_on_gemini_3(sandbox, gateway, mock_requests, wiring):
    run = run_opencode(sandbox, gateway.url, GEMINI_3, G3_PROMPT, wiring)
    assert run.rc == 0, run.describe()
    texts = [str(e.get("part", {}).get("text", "")) for e in run.events if e.get("type") == "text"]
    assert any("MOCK_FINAL" in t and "mock-tool-ran" in t for t in texts), run.describe()
    _assert_call_signed(_g3_posts(mock_requests), run)
