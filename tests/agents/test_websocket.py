"""Codex and OpenCode over Responses WebSocket through crossbar, bridged to other upstreams.

Codex 0.169 dials `ws://…/v1/responses` when its provider has `supports_websockets = true`;
OpenCode 1.18 only with `OPENCODE_EXPERIMENTAL_WEBSOCKETS=1` (off by default on its release
channel), on its built-in `openai` provider with a stored API key. Each completes a tool turn; crossbar's `crossbar_websocket_responses_total`
counts the responses it served over a socket, and the mock shows which upstream kind answered
(over HTTP: crossbar bridges every upstream).
"""
import json
import subprocess
import time

import pytest

from conftest import KIND_PATH, KINDS, WS_NATIVE, Gateway, gateway_config
from harness import crossbar_binary, free_port, wait_ready
from runners import DUMMY_KEY, codex_items, run_codex, run_opencode, ws_responses

PROMPT = "Run the echo command with your shell tool, then tell me what it printed. mock:tool"


@pytest.mark.parametrize("backend", [False, True], ids=["v1", "backend-api"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_codex_tool_turn_over_websocket(sandbox, gateway, mock_requests, kind, backend):
    # Codex opens with a prewarm (generate: false), then sends each request incrementally
    # (previous_response_id + only the new items): crossbar rebuilds the whole request.
    before = ws_responses(gateway)
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], PROMPT, websockets=True, backend=backend)
    assert run.rc == 0, run.describe()
    commands = codex_items(run, "command_execution")
    assert any("mock-tool-ran" in (c.get("aggregated_output") or "") for c in commands), run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    # Both responses of the turn went over the socket, and reached the upstream kind in full.
    assert ws_responses(gateway) - before >= 2, run.describe()
    hits = [r for r in mock_requests() if KIND_PATH[kind] in r["path"]]
    assert len(hits) >= 2, run.describe()
    if kind == "chatgpt":
        # A ChatGPT pool has `websocket` on by default: crossbar's own upstream socket, and the
        # incremental request stays incremental.
        last = hits[-1]
        assert last["method"] == "GET" and last["body"].get("previous_response_id"), last
        assert "mock-tool-ran" in str(last["body"]) and "mock:tool" not in str(last["body"]["input"]), last
    else:
        assert "mock-tool-ran" in str(hits[-1]["body"]) and "mock:tool" in str(hits[-1]["body"]), hits[-1]


def test_codex_over_a_native_upstream_socket(sandbox, gateway, mock_requests):
    # An `openai` provider with `websocket = true`: crossbar opens its own socket to the
    # upstream for Codex's socket, and Codex's incremental request stays incremental upstream.
    run = run_codex(sandbox, gateway.url, WS_NATIVE[1], PROMPT, websockets=True)
    assert run.rc == 0, run.describe()
    commands = codex_items(run, "command_execution")
    assert any("mock-tool-ran" in (c.get("aggregated_output") or "") for c in commands), run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    hits = [r for r in mock_requests() if r["path"] == "/v1/responses"]
    # The mock records each socket frame as a GET: nothing went over HTTP.
    assert hits and all(r["method"] == "GET" for r in hits), hits
    assert len(hits) >= 2, hits
    last = hits[-1]["body"]
    assert last["type"] == "response.create" and last.get("previous_response_id"), last
    assert "mock:tool" not in json.dumps(last["input"]), "only the new items went up the socket"
    assert "mock-tool-ran" in json.dumps(last["input"]), last


@pytest.mark.parametrize("kind,marker", [("anthropic", "bW9jay1zaWduYXR1cmU="), ("gemini", "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==")])
def test_reasoning_state_returns_to_the_upstream_over_websocket(sandbox, gateway, mock_requests, kind, marker):
    # The reasoning item of turn 1 (its sealed encrypted_content) is part of the conversation
    # crossbar keeps for the socket, so the provider's signature reaches it again on turn 2.
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], "Think, then run echo. mock:tool mock:reasoning", websockets=True)
    assert run.rc == 0, run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    assert len(posts) >= 2, posts
    assert marker not in str(posts[0]["body"])
    assert marker in str(posts[1]["body"]), posts[1]["body"]


def test_compaction_round_over_websocket(sandbox, gateway, mock_requests):
    # As test_codex's compaction round, with Codex on the socket: the compaction request is an
    # ordinary response.create, answered with crossbar's sealed summary, expanded later.
    limit = ["-c", "model_auto_compact_token_limit=2000"]
    model = KINDS["anthropic"][1]
    first = run_codex(sandbox, gateway.url, model, "Say hi. mock:reasoning", backend=True, args=limit, websockets=True)
    assert first.rc == 0, first.describe()
    before = ws_responses(gateway)
    run = run_codex(sandbox, gateway.url, model, "Reply with exactly compacted-ok", backend=True,
                    args=[*limit, "resume", "--last"], websockets=True)
    assert run.rc == 0, run.describe()
    assert ws_responses(gateway) - before >= 2, run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    summarised = [i for i, p in enumerate(posts) if "Context checkpoint" in str(p["body"])]
    assert summarised, f"crossbar made a summary with the same model\n{run.describe()}"
    expanded = [i for i, p in enumerate(posts) if "compacted by crossbar" in str(p["body"])]
    assert expanded and expanded[-1] > summarised[0], "a later request carried the compaction summary"
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert "compacted-ok" in messages, run.describe()


@pytest.fixture
def gateway_without_websocket(mock_url, tmp_path):
    """A second crossbar with `[server] websocket = false`."""
    port = free_port()
    config = tmp_path / "crossbar.toml"
    text = gateway_config(port, str(tmp_path), mock_url)
    config.write_text(text.replace("[server]\n", "[server]\nwebsocket = false\n", 1))
    log = tmp_path / "crossbar.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([crossbar_binary(), "serve", "--config", str(config)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/healthz", proc, "crossbar")
        yield Gateway(url, log)
    finally:
        proc.terminate()
        proc.wait(30)


def test_codex_falls_back_to_http_on_426(sandbox, gateway_without_websocket, mock_requests):
    gw = gateway_without_websocket
    started = time.monotonic()
    run = run_codex(sandbox, gw.url, KINDS["anthropic"][1], PROMPT, websockets=True)
    assert run.rc == 0, run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    assert ws_responses(gw) == 0
    # A 426 is taken at once (a 403/404/405 would cost Codex retries first).
    assert time.monotonic() - started < 60, run.describe()


def test_opencode_tool_turn_over_websocket(sandbox, gateway, mock_requests):
    # OpenCode 1.18's WebSocket transport lives in its built-in `openai` auth plugin, which
    # only runs for a stored credential (a key in opencode.json alone keeps it on HTTP) and
    # not at all under the sandbox's OPENCODE_DISABLE_DEFAULT_PLUGINS.
    data = sandbox["home"] / ".local/share/opencode"
    data.mkdir(parents=True, exist_ok=True)
    (data / "auth.json").write_text(json.dumps({"openai": {"type": "api", "key": DUMMY_KEY}}))
    before = ws_responses(gateway)
    run = run_opencode(sandbox, gateway.url, KINDS["anthropic"][1], PROMPT, wiring="openai",
                       env_extra={"OPENCODE_EXPERIMENTAL_WEBSOCKETS": "1", "OPENCODE_DISABLE_DEFAULT_PLUGINS": "0"})
    assert run.rc == 0, run.describe()
    texts = [str(e.get("part", {}).get("text", "")) for e in run.events if e.get("type") == "text"]
    assert any("MOCK_FINAL" in t and "mock-tool-ran" in t for t in texts), run.describe()
    assert ws_responses(gateway) - before >= 2, run.describe()
    assert len([r for r in mock_requests() if KIND_PATH["anthropic"] in r["path"]]) >= 2
