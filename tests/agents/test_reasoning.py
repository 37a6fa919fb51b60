"""Reasoning continuity for Gemini CLI (Codex's is in test_codex.py. Claude Code 2.1.197's
`-p` tool turn sent no thinking block back in its second request here, even on the plain
Anthropic relay, so there is nothing to assert for it): the upstream's own reasoning state (Anthropic
signature, Gemini thought signature, Responses encrypted_content) travels through the agent's
protocol (sealed by crossbar when it is foreign) and reaches the upstream on the next request."""
import pytest

from conftest import KINDS
from runners import run_gemini

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
