//! Function names Gemini accepts: `[a-zA-Z0-9_.:-]`, at most 64 characters, starting with a
//! letter or an underscore.
//!
//! `sanitize` is deterministic and the identity on valid names (the common case, so calls come
//! back under the client's own name). Otherwise: every other character becomes `_`, a leading
//! non-letter gets a `_` prefix, and a name longer than 64 keeps its first 55 characters plus
//! `_` and 8 hex digits of a hash of the original name (so long names stay distinct).
//! Note: the reverse mapping of a *changed* name would need the declared tool list, which the
//! response decoders cannot enumerate (`ToolIndex` only looks names up); such calls come back
//! under the sanitized name.

pub const MAX_NAME_LEN: usize = 64;

pub fn is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && name.len() <= MAX_NAME_LEN && name.chars().all(allowed)
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

pub fn sanitize(name: &str) -> String {
    if is_valid(name) {
        return name.to_string();
    }
    let mut out: String = name.chars().map(|c| if allowed(c) { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    if out.len() > MAX_NAME_LEN {
        // `out` is ASCII here, so byte truncation is a char boundary.
        out.truncate(MAX_NAME_LEN - 9);
        out.push('_');
        out.push_str(&format!("{:08x}", fnv1a(name.as_bytes())));
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        for n in ["run_shell_command", "mcp__server__tool", "a.b:c-d", "_x"] {
            assert_eq!(sanitize(n), n);
        }
    }

    #[test]
    fn invalid_names_are_fixed_deterministically() {
        assert_eq!(sanitize("my tool/v2"), "my_tool_v2");
        assert_eq!(sanitize("1st"), "_1st");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize("héllo"), "h_llo");
        let long = "x".repeat(100);
        let s = sanitize(&long);
        assert_eq!(s.len(), 64);
        assert!(is_valid(&s));
        assert_eq!(s, sanitize(&long));
        assert_ne!(sanitize(&"y".repeat(100)), s);
    }
}
