"""Codex beyond the basic tool turn: apply_patch edits, reasoning continuity, compaction,
upstream failures, and crossbar's model catalog."""
import pytest

from conftest import KINDS
from runners import codex_items, run_codex

THOUGHT = "The user wants a mock answer"  # the mock's reasoning text


@pytest.mark.parametrize("kind", list(KINDS))
def test_apply_patch_edit_lands_in_a_file(sandbox, gateway, mock_requests, kind):
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], "Add the file with apply_patch. mock:patch")
    assert run.rc == 0, run.describe()
    target = sandbox["work"] / "mock-patch.txt"
    assert target.exists(), run.describe()
    assert target.read_text() == "mock-patch-applied\n"
    changes = codex_items(run, "file_change")
    assert any(c.get("status") == "completed" for c in changes), run.describe()
    # The call came back to Codex as the item type it declared (custom_tool_call for apply_patch).
    second = [r for r in mock_requests() if r["method"] == "POST"][-1]
    assert "Success. Updated the following files" in str(second["body"]), second


@pytest.mark.parametrize("kind,marker", [("anthropic", "bW9jay1zaWduYXR1cmU="), ("gemini", "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ==")])
def test_reasoning_survives_into_the_next_request(sandbox, gateway, mock_requests, kind, marker):
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], "Think, then run echo. mock:tool mock:reasoning")
    assert run.rc == 0, run.describe()
    assert any(THOUGHT in (r.get("text") or "") for r in codex_items(run, "reasoning")), run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    assert len(posts) >= 2, posts
    # The first answer's provider state (Anthropic signature / Gemini thought signature) came
    # back to the mock on the next request, through Codex's sealed encrypted_content.
    assert marker not in str(posts[0]["body"])
    assert marker in str(posts[1]["body"]), posts[1]["body"]


def test_compaction_round_on_a_non_openai_upstream(sandbox, gateway, mock_requests):
    # name = "OpenAI" turns on remote compaction v2; a tiny limit makes the resumed session
    # compact before its next turn. The first turn leaves a reasoning item in the history, so
    # resume (whole history replayed, sealed state and all) is covered too.
    limit = ["-c", "model_auto_compact_token_limit=2000"]
    model = KINDS["anthropic"][1]
    first = run_codex(sandbox, gateway.url, model, "Say hi. mock:reasoning", backend=True, args=limit)
    assert first.rc == 0, first.describe()
    run = run_codex(sandbox, gateway.url, model, "Reply with exactly compacted-ok", backend=True, args=[*limit, "resume", "--last"])
    assert run.rc == 0, run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    summarised = [i for i, p in enumerate(posts) if "Context checkpoint" in str(p["body"])]
    assert summarised, f"crossbar made a summary with the same model\n{run.describe()}"
    expanded = [i for i, p in enumerate(posts) if "compacted by crossbar" in str(p["body"])]
    assert expanded and expanded[-1] > summarised[0], "a later request carried the compaction summary"
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert "compacted-ok" in messages, run.describe()


@pytest.mark.parametrize(
    "directive,expected",
    [
        ("mock:midstream-error=529", "Selected model is at capacity"),
        ("mock:error=400", "invalid_request_error"),
    ],
)
def test_upstream_failure_is_codex_own_error_not_a_hang(sandbox, gateway, directive, expected):
    run = run_codex(sandbox, gateway.url, KINDS["anthropic"][1], f"Say hi. {directive}")
    assert run.rc == 1, run.describe()
    failed = [e for e in run.events if e.get("type") == "turn.failed"]
    assert failed and expected in failed[0]["error"]["message"], run.describe()


def test_model_catalog_replaces_fallback_metadata(sandbox, gateway, mock_requests):
    # An auth command makes Codex fetch GET {base}/models; crossbar's catalog then supplies
    # the metadata (no "fallback metadata" warning, crossbar's base instructions are used).
    run = run_codex(sandbox, gateway.url, KINDS["gemini"][1], "Say hi.")
    assert run.rc == 0, run.describe()
    warnings = [i.get("message", "") for i in codex_items(run, "error")]
    assert not any("fallback metadata" in w for w in warnings), run.describe()
    first = [r for r in mock_requests() if r["method"] == "POST"][0]
    assert "You are Codex, a coding agent running in the user's terminal" in str(first["body"])


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_tool_turn_on_the_codex_backend_path(sandbox, gateway, mock_requests, kind):
    # base_url = …/backend-api/codex with name = "OpenAI": items carry
    # internal_chat_message_metadata_passthrough, which translation must not forward.
    run = run_codex(sandbox, gateway.url, KINDS[kind][1], "Run echo. mock:tool", backend=True)
    assert run.rc == 0, run.describe()
    messages = [m.get("text", "") for m in codex_items(run, "agent_message")]
    assert any("MOCK_FINAL" in m and "mock-tool-ran" in m for m in messages), run.describe()
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    assert posts and not any("internal_chat_message_metadata_passthrough" in str(p["body"]) for p in posts)
