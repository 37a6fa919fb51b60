//! Prompt fingerprints, for explaining a prompt-cache miss: a conversation's request at turn
//! N+1 should start with everything its request at turn N held. `Fingerprint::of` keeps a few
//! 64-bit hashes of a request (tools, system, each message's running prefix; never text), and
//! `Fingerprint::divergence` names the first part where a later turn's prefix differs.
//!
//! Cache breakpoints (`CacheHint`) are left out: clients move them every turn and Anthropic's
//! cache ignores where they are. Hashes are FNV-1a over the canonical JSON, stable across
//! builds and instances (unlike `DefaultHasher`).

use super::{Message, Part, Request};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub tools: u64,
    pub system: u64,
    /// `messages[i]`: the hash of messages `0..=i` (a running prefix).
    pub messages: Vec<u64>,
}

/// Where a later turn's prompt stops matching an earlier turn's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// The whole earlier prompt is a prefix of the later one.
    None,
    Tools,
    System,
    /// The first message (index in the earlier turn) that differs, or that the later turn no
    /// longer has (history cut or compacted).
    Message(usize),
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn part(h: u64, p: &Part) -> u64 {
    match p {
        // Text without its cache hint; everything else as its canonical JSON.
        Part::Text { text, .. } => fnv(fnv(h, b"t"), text.as_bytes()),
        // Claude Code marks the newest tool result; the hint rides on its text.
        Part::ToolResult(r) if r.content.iter().any(|p| matches!(p, Part::Text { cache: Some(_), .. })) => {
            let mut r = r.clone();
            for p in &mut r.content {
                if let Part::Text { cache, .. } = p {
                    *cache = None;
                }
            }
            fnv(h, &serde_json::to_vec(&Part::ToolResult(r)).unwrap_or_default())
        }
        other => fnv(h, &serde_json::to_vec(other).unwrap_or_default()),
    }
}

fn message(h: u64, m: &Message) -> u64 {
    let h = fnv(h, &serde_json::to_vec(&m.role).unwrap_or_default());
    m.parts.iter().fold(fnv(h, b"["), part)
}

impl Fingerprint {
    pub fn of(req: &Request) -> Fingerprint {
        let tools = req.tools.iter().fold(OFFSET, |h, t| {
            let mut t = t.clone();
            t.cache = None;
            fnv(h, &serde_json::to_vec(&t).unwrap_or_default())
        });
        let system = req.system.iter().fold(OFFSET, part);
        let mut h = OFFSET;
        let messages = req
            .messages
            .iter()
            .map(|m| {
                h = message(h, m);
                h
            })
            .collect();
        Fingerprint { tools, system, messages }
    }

    /// How `later` (a later turn of the same conversation) departs from `self`.
    pub fn divergence(&self, later: &Fingerprint) -> Divergence {
        if self.tools != later.tools {
            return Divergence::Tools;
        }
        if self.system != later.system {
            return Divergence::System;
        }
        match self.messages.iter().zip(&later.messages).position(|(a, b)| a != b) {
            Some(i) => Divergence::Message(i),
            None if later.messages.len() < self.messages.len() => Divergence::Message(later.messages.len()),
            None => Divergence::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{CacheHint, Role, ToolDef, ToolKind};
    use serde_json::json;

    fn req(turns: &[&str]) -> Request {
        Request {
            system: vec![Part::text("sys")],
            tools: vec![ToolDef {
                name: "shell".into(),
                namespace: None,
                description: None,
                parameters: json!({"type": "object"}),
                kind: ToolKind::Function,
                strict: None,
                cache: None,
            }],
            messages: turns.iter().map(|t| Message { role: Role::User, parts: vec![Part::text(*t)] }).collect(),
            ..Request::default()
        }
    }

    #[test]
    fn names_the_first_part_that_changed() {
        let one = Fingerprint::of(&req(&["a", "b"]));
        assert_eq!(one.divergence(&Fingerprint::of(&req(&["a", "b", "c"]))), Divergence::None);
        assert_eq!(one.divergence(&Fingerprint::of(&req(&["a", "x", "c"]))), Divergence::Message(1));
        assert_eq!(one.divergence(&Fingerprint::of(&req(&["a"]))), Divergence::Message(1));
        let mut sys = req(&["a", "b"]);
        sys.system = vec![Part::text("other")];
        assert_eq!(one.divergence(&Fingerprint::of(&sys)), Divergence::System);
        let mut tools = req(&["a", "b"]);
        tools.tools[0].description = Some("changed".into());
        assert_eq!(one.divergence(&Fingerprint::of(&tools)), Divergence::Tools);
    }

    #[test]
    fn moving_breakpoints_is_no_change() {
        let one = Fingerprint::of(&req(&["a", "b"]));
        let mut marked = req(&["a", "b", "c"]);
        let hint = Some(CacheHint { value: json!({"type": "ephemeral"}) });
        marked.messages[1].parts = vec![Part::Text { text: "b".into(), cache: hint.clone() }];
        marked.system = vec![Part::Text { text: "sys".into(), cache: hint.clone() }];
        marked.tools[0].cache = hint.clone();
        let result = |cache: Option<CacheHint>| {
            Part::ToolResult(crate::canonical::ToolResult {
                call_id: "c".into(),
                name: None,
                content: vec![Part::Text { text: "ok".into(), cache }],
                is_error: false,
                kind: Default::default(),
            })
        };
        let mut with_result = req(&["a"]);
        with_result.messages[0].parts.push(result(hint.clone()));
        let mut unmarked = req(&["a"]);
        unmarked.messages[0].parts.push(result(None));
        assert_eq!(Fingerprint::of(&with_result), Fingerprint::of(&unmarked));
        assert_eq!(one.divergence(&Fingerprint::of(&marked)), Divergence::None);
        assert_eq!(Fingerprint::of(&req(&["a"])), Fingerprint::of(&req(&["a"])), "deterministic");
    }
}
