//! A loop around one translation, for `valgrind --tool=callgrind` (instruction counts are
//! steadier than wall time on a shared machine).
//!
//! `cargo run --release --example translate_profile -- <client> <upstream> [decode|encode|both] [iterations]`

#[path = "../benches/support/agent_request.rs"]
mod agent_request;

use agent_request::{agent_request, cx};
use crossbar_protocol::canonical::Protocol;
use crossbar_protocol::{decode_request, encode_request};
use std::hint::black_box;

fn protocol(name: &str) -> Protocol {
    Protocol::ALL.into_iter().find(|p| p.name() == name).unwrap_or_else(|| panic!("unknown protocol {name}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = protocol(args.first().map_or("openai-chat", String::as_str));
    let upstream = protocol(args.get(1).map_or("anthropic", String::as_str));
    let mode = args.get(2).map_or("both", String::as_str);
    let iterations: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10);
    let cx = cx();
    let body = encode_request(client, &agent_request(), &cx).expect("encode").body;
    let decoded = decode_request(client, &body, &cx).expect("decode");
    for _ in 0..iterations {
        match mode {
            "decode" => drop(black_box(decode_request(client, black_box(&body), &cx))),
            "encode" => drop(black_box(encode_request(upstream, black_box(&decoded), &cx))),
            _ => {
                let req = decode_request(client, black_box(&body), &cx).expect("decode");
                drop(black_box(encode_request(upstream, &req, &cx)));
            }
        }
    }
}
