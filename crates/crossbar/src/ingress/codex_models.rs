//! Codex's model catalog: `GET /v1/models?client_version=…` and `GET /backend-api/codex/models`
//! answer `{"models":[ModelInfo…]}` in Codex's own format (codex-wire.md §8), built from the
//! same model table as the other lists (aliases, then each provider's models), so Codex shows
//! the right context window and reasoning levels instead of its "unknown model" fallback.
//!
//! Every entry carries the fields Codex 0.169 requires (an entry missing one is dropped
//! silently by Codex). It never sets `use_responses_lite` / `tool_mode`: those switch Codex to
//! a request shape only OpenAI itself can serve, and crossbar cannot tell which upstream
//! models support it.

use super::models::{collect, Listed};
use crate::app::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{json, Value};
use std::sync::Arc;

/// Context window Codex assumes when crossbar's catalog does not know the model.
const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;

/// The base instructions Codex sends as the first developer message for crossbar's models.
/// Written for crossbar; describes the tools Codex declares for these entries (unified exec,
/// freeform apply_patch).
pub const BASE_INSTRUCTIONS: &str = "\
You are Codex, a coding agent running in the user's terminal. You and the user share one \
workspace; your job is to carry their request through to a verified result.

# How you work
- Read before you change: inspect the relevant files and the project's conventions first.
- Use `exec_command` to run shell commands (search with `rg`, read files, build, run tests). \
Keep commands non-interactive and scoped to the workspace.
- Edit files with the `apply_patch` tool. A patch starts with `*** Begin Patch` and ends with \
`*** End Patch`; inside, `*** Add File: path` (lines prefixed `+`), `*** Delete File: path`, or \
`*** Update File: path` followed by `@@` hunks whose lines start with ` `, `-` or `+`.
- Make the smallest change that solves the problem, in the style of the surrounding code. Do \
not fix unrelated issues; mention them instead.
- After changing code, run the most specific checks available (tests, type checks, linters) \
and fix what you broke.
- Never run destructive commands (deleting data, rewriting git history, force pushes) unless \
the user asked for exactly that.

# How you answer
- Be concise and concrete. Lead with the outcome, then what you changed and how you verified \
it. Reference files by path.
- If something could not be done or verified, say so plainly and say what remains.
- Ask a question only when the request is ambiguous in a way that changes the result.";

fn reasoning_levels() -> Value {
    json!([
        {"effort": "low", "description": "Fast responses with lighter reasoning"},
        {"effort": "medium", "description": "Balances speed and reasoning depth for everyday tasks"},
        {"effort": "high", "description": "Greater reasoning depth for complex problems"},
    ])
}

/// One Codex `ModelInfo` for a listed model.
pub(super) fn entry(l: &Listed, priority: usize, websocket: bool) -> Value {
    let context = l.info.as_ref().and_then(|i| i.context_window).unwrap_or(DEFAULT_CONTEXT_WINDOW);
    json!({
        "slug": l.id,
        "display_name": l.id,
        "description": format!("{} via crossbar ({})", l.id, l.owned_by),
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": reasoning_levels(),
        "shell_type": "unified_exec",
        "visibility": "list",
        "supported_in_api": true,
        "priority": priority,
        "base_instructions": BASE_INSTRUCTIONS,
        "default_reasoning_summary": "auto",
        "support_verbosity": false,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "tokens", "limit": 10000},
        "supports_parallel_tool_calls": true,
        "context_window": context,
        "max_context_window": context,
        "effective_context_window_percent": 95,
        "experimental_supported_tools": [],
        "input_modalities": ["text", "image"],
        "supports_search_tool": false,
        "use_responses_lite": false,
        // Every route is served over WebSocket (bridged) when it is on.
        "prefer_websockets": websocket,
    })
}

pub async fn catalog(State(state): State<Arc<AppState>>) -> Response {
    let listed = collect(&state).await;
    let models: Vec<Value> =
        listed.iter().enumerate().map(|(i, l)| entry(l, i + 1, state.config.server.websocket)).collect();
    let body = json!({ "models": models });
    let text = body.to_string();
    let mut resp = (StatusCode::OK, Json(body)).into_response();
    // A content hash as ETag: Codex re-fetches when a stream's `X-Models-Etag` differs.
    if let Ok(v) = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(text.as_bytes()))) {
        resp.headers_mut().insert("etag", v);
    }
    resp
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
