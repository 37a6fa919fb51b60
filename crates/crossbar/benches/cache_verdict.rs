//! What the cache verdict costs a conversation's turn: fingerprinting the client's ~200 KB
//! request as sent (`usage::cache_prompt`), against decoding it and fingerprinting the
//! canonical request, and judging + remembering the turn (`Turns::observe`). A plain timing
//! loop: `cargo bench -p crossbar --bench cache_verdict`. Results go to docs/benchmarks.md.

use crossbar::usage::{cache_prompt, cache_turns::Turns, cache_verdict::Turn};
use crossbar_protocol::canonical::{Fingerprint, Protocol};
use crossbar_protocol::{decode_request, encode_request};
use std::hint::black_box;
use std::time::Instant;

#[path = "../../protocol/benches/support/agent_request.rs"]
mod agent_request;

fn time<T>(n: u32, mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..n / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let cx = agent_request::cx();
    let canonical = agent_request::agent_request();
    let turns = Turns::default();
    println!("| client protocol | body | raw fingerprint | decode + Fingerprint::of | observe (judge + remember) |");
    println!("|---|---:|---:|---:|---:|");
    for p in Protocol::ALL {
        let body = encode_request(p, &canonical, &cx).expect("encode").body;
        let raw = time(200, || cache_prompt::fingerprint(p, &body, None).expect("object"));
        let decoded = time(100, || Fingerprint::of(&decode_request(p, &body, &cx).expect("decode")));
        let (fingerprint, _) = cache_prompt::fingerprint(p, &body, None).expect("object");
        let mut at = 0;
        let observe = time(2000, || {
            at += 1;
            let turn = Turn {
                deployment: "p/m".into(),
                at_ms: at,
                ttl_ms: 300_000,
                input: Some(50_000),
                fingerprint: fingerprint.clone(),
                upstream: p,
                message_id: None,
            };
            turns.observe(7, turn, Some(49_000))
        });
        println!("| {} | {} KB | {raw:.0} µs | {decoded:.0} µs | {observe:.1} µs |", p.name(), body.len() / 1024);
    }
}
