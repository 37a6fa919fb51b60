//! Which program sent a request, from its User-Agent (and Codex's `originator`), for the
//! dashboard's client column and filter. Unknown programs are `other`.

use axum::http::HeaderMap;

/// Every name `classify` returns (the dashboard's client filter offers these).
pub const CLIENTS: [&str; 9] = [
    "Codex",
    "Claude Code",
    "OpenCode",
    "Gemini CLI",
    "OpenAI SDK",
    "Anthropic SDK",
    "Google GenAI SDK",
    "curl",
    "other",
];

pub fn classify(headers: &HeaderMap) -> &'static str {
    static ORIGINATOR: axum::http::HeaderName = axum::http::HeaderName::from_static("originator");
    let ua = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let originator = headers.get(&ORIGINATOR).and_then(|v| v.to_str().ok()).unwrap_or("");
    classify_agent(ua, originator)
}

/// The classification itself: the most specific program first (agents embed SDKs).
pub fn classify_agent(ua: &str, originator: &str) -> &'static str {
    let ua = ua.to_ascii_lowercase();
    let has = |s: &str| ua.contains(s);
    if has("codex") || originator.starts_with("codex") {
        "Codex"
    } else if has("claude-cli") || has("claude-code") {
        "Claude Code"
    } else if has("opencode") {
        "OpenCode"
    } else if has("geminicli") || has("gemini-cli") {
        "Gemini CLI"
    } else if has("openai/") {
        "OpenAI SDK"
    } else if has("anthropic/") {
        "Anthropic SDK"
    } else if has("google-genai-sdk") || has("google-genai") {
        "Google GenAI SDK"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_of_the_clients_we_know() {
        let cases = [
            ("codex_cli_rs/0.58.0 (Debian 12.0.0; x86_64) xterm", "", "Codex"),
            ("", "codex_cli_rs", "Codex"),
            ("claude-cli/2.0.31 (external, cli)", "", "Claude Code"),
            ("opencode/1.0.25 ai-sdk/provider-utils/3.0.10 runtime/bun/1.3.1", "", "OpenCode"),
            ("GeminiCLI/0.11.3 (linux; x64)", "", "Gemini CLI"),
            ("OpenAI/Python 1.109.1", "", "OpenAI SDK"),
            ("OpenAI/JS 5.23.2", "", "OpenAI SDK"),
            ("Anthropic/Python 0.69.0", "", "Anthropic SDK"),
            ("google-genai-sdk/1.45.0 gl-python/3.12.3", "", "Google GenAI SDK"),
            ("curl/8.5.0", "", "curl"),
            ("Mozilla/5.0", "", "other"),
            ("", "", "other"),
        ];
        for (ua, originator, want) in cases {
            assert_eq!(classify_agent(ua, originator), want, "{ua:?} / {originator:?}");
            assert!(CLIENTS.contains(&want));
        }
        let mut h = HeaderMap::new();
        h.insert("user-agent", "curl/8.0".parse().expect("hv"));
        assert_eq!(classify(&h), "curl");
    }
}
