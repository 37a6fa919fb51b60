//! Opt-in body capture (`[storage] capture_bodies`): the first `LIMIT` bytes of a request's
//! body and of what was sent back, stored with its usage row for the dashboard's request
//! detail and purged after `capture_retention_days`.
//!
//! On the request path a `Collector` only copies bytes (at most `LIMIT` per side); the
//! redaction runs in the recorder's writer task, before the batch is written. Headers are
//! never captured, so `authorization`, `x-api-key` and `x-goog-api-key` never reach the store;
//! in the bodies, string values of secret-named fields (`api_key`, `password`,
//! `access_token`, …) and anything shaped like a known credential (`sk-…`, `AIza…`, JWTs,
//! crossbar keys, `Bearer …`) become `[redacted]`.
//!
//! Must never: store a body unredacted, or store a NUL byte (PostgreSQL text refuses it and
//! the whole batch would be lost).

use serde::Serialize;

/// Bytes kept of each body.
pub const LIMIT: usize = 64 * 1024;
const REDACTED: &[u8] = b"[redacted]";
/// A credential-shaped token is at least this long (shorter runs are ordinary words).
const MIN_SECRET: usize = 20;
/// Prefixes of credential formats: OpenAI/Anthropic, Google API keys, GitHub, Slack, AWS
/// access key ids, JWTs.
const PREFIXES: [&[u8]; 10] =
    [b"sk-", b"sk_", b"rk_", b"AIza", b"ghp_", b"gho_", b"github_pat_", b"xox", b"AKIA", b"eyJ"];

/// One request's captured bodies.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Capture {
    pub request: String,
    pub response: String,
    /// The body was longer than `LIMIT` and is cut there.
    pub request_truncated: bool,
    pub response_truncated: bool,
}

impl Capture {
    /// From collected bytes (not yet redacted: `redact` does that in the writer).
    pub fn new(request: Collector, response: Collector) -> Capture {
        Capture {
            request: request.text(),
            response: response.text(),
            request_truncated: request.truncated,
            response_truncated: response.truncated,
        }
    }

    /// Scrub credentials from both bodies.
    pub fn redact(&mut self) {
        self.request = redact(&self.request);
        self.response = redact(&self.response);
    }
}

/// The first `LIMIT` bytes of a body, collected as it passes.
#[derive(Debug, Default)]
pub struct Collector {
    buf: Vec<u8>,
    truncated: bool,
}

impl Collector {
    pub fn push(&mut self, chunk: &[u8]) {
        let room = LIMIT.saturating_sub(self.buf.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// The bytes as text: invalid UTF-8 (a character cut at the limit, a binary body) is
    /// replaced, as is NUL.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).replace('\0', "\u{fffd}")
    }
}

/// `text` with credentials replaced by `[redacted]`.
pub fn redact(text: &str) -> String {
    let out = scrub_values(&scrub_fields(text.as_bytes(), 0));
    // Only ASCII runs were replaced by ASCII, so the text stays UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Whether a JSON field name names a credential (case and `-`/`_` ignored).
fn secret_name(name: &[u8]) -> bool {
    if name.len() > 64 {
        return false;
    }
    let n: String = name.iter().map(|b| if *b == b'-' { '_' } else { b.to_ascii_lowercase() as char }).collect();
    const EXACT: [&str; 19] = [
        "api_key",
        "apikey",
        "x_api_key",
        "x_goog_api_key",
        "authorization",
        "proxy_authorization",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "session_token",
        "auth_token",
        "bearer_token",
        "private_key",
        "cookie",
        "credentials",
    ];
    EXACT.contains(&n.as_str()) || ["_secret", "_password", "_api_key", "_access_key"].iter().any(|s| n.ends_with(s))
}

/// How deep JSON held inside a JSON string (a tool call's `arguments`, itself holding JSON) is
/// looked into.
const MAX_NESTING: u8 = 3;

/// Replace the string value of every secret-named field. A small JSON string lexer: text
/// outside strings is copied as is, so it works on a JSON body, on SSE `data:` lines and on a
/// body cut in the middle (an unterminated secret value is redacted to the end). A complete
/// string that itself holds a JSON object or array (tool-call arguments) is scrubbed the same
/// way, `MAX_NESTING` levels deep.
fn scrub_fields(t: &[u8], depth: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    // The last string was a secret-named key and its `:` may follow: redact the next string.
    let mut secret_next = false;
    while i < t.len() {
        let b = t[i];
        if b != b'"' {
            if secret_next && !b.is_ascii_whitespace() && b != b':' {
                secret_next = false;
            }
            out.push(b);
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut k = start;
        while k < t.len() && t[k] != b'"' {
            k += if t[k] == b'\\' { 2 } else { 1 };
        }
        let content = &t[start.min(t.len())..k.min(t.len())];
        out.push(b'"');
        let was_value = secret_next;
        if secret_next {
            out.extend_from_slice(REDACTED);
            secret_next = false;
        } else if k < t.len() && depth < MAX_NESTING {
            out.extend_from_slice(&scrub_nested(content, depth));
        } else {
            out.extend_from_slice(content);
        }
        if k < t.len() {
            out.push(b'"');
        }
        i = k.saturating_add(1);
        if !was_value && secret_name(content) {
            let mut j = i;
            while j < t.len() && t[j].is_ascii_whitespace() {
                j += 1;
            }
            secret_next = t.get(j) == Some(&b':');
        }
    }
    out
}

/// The escaped content of a complete JSON string, scrubbed inside when it holds JSON; as it
/// was otherwise (and whenever nothing in it changed, so its bytes stay as sent).
fn scrub_nested(content: &[u8], depth: u8) -> Vec<u8> {
    // Only an escaped quote can start a field name inside a string.
    if memchr::memmem::find(content, br#"\""#).is_none() {
        return content.to_vec();
    }
    let mut quoted = Vec::with_capacity(content.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(content);
    quoted.push(b'"');
    let Ok(inner) = serde_json::from_slice::<String>(&quoted) else { return content.to_vec() };
    if !inner.trim_start().starts_with(['{', '[']) {
        return content.to_vec();
    }
    let scrubbed = scrub_fields(inner.as_bytes(), depth + 1);
    if scrubbed == inner.as_bytes() {
        return content.to_vec();
    }
    let text = String::from_utf8_lossy(&scrubbed);
    match serde_json::to_vec(&*text) {
        Ok(mut v) if v.len() >= 2 => {
            v.pop();
            v.remove(0);
            v
        }
        _ => content.to_vec(),
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// A crossbar key: `cb-<12 hex>-<48 hex>`.
fn crossbar_key(run: &[u8]) -> bool {
    run.len() >= 64
        && run.starts_with(b"cb-")
        && run[3..15].iter().all(u8::is_ascii_hexdigit)
        && run[15] == b'-'
        && run[16..64].iter().all(u8::is_ascii_hexdigit)
}

fn looks_secret(run: &[u8]) -> bool {
    (run.len() >= MIN_SECRET && PREFIXES.iter().any(|p| run.starts_with(p))) || crossbar_key(run)
}

/// Replace credential-shaped tokens (whole runs of `[A-Za-z0-9_.-]`) and what follows
/// `Bearer `.
fn scrub_values(t: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    let mut bearer = false;
    while i < t.len() {
        if !is_token(t[i]) {
            bearer = bearer && t[i] == b' ' && out.last().is_some_and(|b| is_token(*b));
            out.push(t[i]);
            i += 1;
            continue;
        }
        let end = i + t[i..].iter().take_while(|b| is_token(**b)).count();
        let run = &t[i..end];
        if looks_secret(run) || (bearer && run.len() >= 8) {
            out.extend_from_slice(REDACTED);
        } else {
            out.extend_from_slice(run);
        }
        bearer = run.eq_ignore_ascii_case(b"bearer");
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_fields_are_redacted_and_other_fields_kept() {
        let body = r#"{"model":"gpt-5","api_key":"hunter2","max_tokens":10,"nested":{"Client-Secret" : "abc\"def","password":42},"messages":[{"role":"user","content":"my password is in the api_key field"}]}"#;
        let r = redact(body);
        assert_eq!(
            r,
            r#"{"model":"gpt-5","api_key":"[redacted]","max_tokens":10,"nested":{"Client-Secret" : "[redacted]","password":42},"messages":[{"role":"user","content":"my password is in the api_key field"}]}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&r).is_ok(), "still JSON");
    }

    #[test]
    fn credential_shaped_values_are_redacted_anywhere() {
        let key = format!("cb-{}-{}", "a1b2c3d4e5f6", "0123456789abcdef".repeat(3));
        let text = format!(
            "use sk-proj-abcdefghijklmnop1234 or AIzaSyA1234567890abcdefghijkl, header Authorization: Bearer tok_12345678 and {key}; sk-short stays"
        );
        let r = redact(&text);
        assert_eq!(
            r,
            "use [redacted] or [redacted], header Authorization: Bearer [redacted] and [redacted]; sk-short stays"
        );
        // Inside a JSON string (a tool call's arguments) too.
        let r = redact(r#"{"arguments":"{\"key\":\"sk-ant-api03-aaaaaaaaaaaaaaaaaaaa\"}"}"#);
        assert_eq!(r, r#"{"arguments":"{\"key\":\"[redacted]\"}"}"#);
    }

    #[test]
    fn secret_fields_inside_json_held_in_a_string_are_redacted() {
        // A tool call's arguments: JSON inside a JSON string, and one level deeper.
        let body = r#"{"type":"function_call","arguments":"{\"path\":\"a.txt\",\"password\":\"hunter2\",\"env\":\"{\\\"API_KEY\\\":\\\"zzz\\\"}\"}"}"#;
        let r = redact(body);
        assert!(!r.contains("hunter2") && !r.contains("zzz"), "{r}");
        let v: serde_json::Value = serde_json::from_str(&r).expect("still JSON");
        let args: serde_json::Value =
            serde_json::from_str(v["arguments"].as_str().expect("string")).expect("args JSON");
        assert_eq!(args["path"], "a.txt");
        assert_eq!(args["password"], "[redacted]");
        let env: serde_json::Value = serde_json::from_str(args["env"].as_str().expect("string")).expect("env JSON");
        assert_eq!(env["API_KEY"], "[redacted]");
        // A string that merely quotes something, and one with nothing secret, keep their bytes.
        let plain = r#"{"content":"he said \"password\" twice","arguments":"{\"q\":\"\u00e9\"}"}"#;
        assert_eq!(redact(plain), plain);
    }

    #[test]
    fn a_cut_body_is_redacted_to_its_end_and_sse_lines_are_scrubbed() {
        assert_eq!(redact(r#"{"a":1,"access_token":"abc"#), r#"{"a":1,"access_token":"[redacted]"#);
        assert_eq!(redact(r#"{"x":"\"#), r#"{"x":"\"#, "a trailing backslash does not panic");
        let sse = "data: {\"refresh_token\": \"r1\"}\n\ndata: [DONE]\n\n";
        assert_eq!(redact(sse), "data: {\"refresh_token\": \"[redacted]\"}\n\ndata: [DONE]\n\n");
    }

    #[test]
    fn bodies_are_cut_at_the_limit_and_marked() {
        let mut c = Collector::default();
        c.push(&vec![b'a'; LIMIT - 1]);
        c.push("é!".as_bytes());
        let cap = Capture::new(c, Collector::default());
        assert!(cap.request_truncated && !cap.response_truncated);
        assert!(cap.request.ends_with('\u{fffd}'), "the cut character is replaced, not a panic");
        assert_eq!(cap.request.chars().filter(|c| *c == 'a').count(), LIMIT - 1);
        let mut c = Collector::default();
        c.push(b"a\0b");
        assert_eq!(Capture::new(c, Collector::default()).request, "a\u{fffd}b", "no NUL reaches the store");
        let mut c = Collector::default();
        c.push(&vec![b'x'; LIMIT]);
        c.push(b"");
        assert!(!Capture::new(c, Collector::default()).request_truncated, "exactly the limit is whole");
    }
}
