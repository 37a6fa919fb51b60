#!/usr/bin/env python3
"""Prompt-cache replay (issue 14): one recorded-like 20-turn coding-agent conversation with tool
calls, replayed through crossbar to the mock upstream's cache simulation (`mock:cache`) on four
routes, printing the cached share of input tokens per route and the cache verdicts crossbar
recorded for it:

  - Codex (Responses)            → Anthropic upstream  (translated: crossbar places breakpoints)
  - Codex (Responses)            → OpenAI Responses    (native)
  - Claude Code (Anthropic)      → OpenAI Responses    (translated: prompt_cache_key, nonce removed)
  - Claude Code (Anthropic)      → Anthropic           (native, relayed as sent)

Each turn sends the whole history so far, as the agents do: a user task, then per turn the
assistant's tool call (shell, read_file, apply_patch) and its output (0.5–6 KB of "file" or
"command" text from a fixed seed), a user follow-up every seventh turn. The bodies are what the
CLIs send (Codex: `instructions`, `tools`, `input`, `prompt_cache_key`, `session_id` header;
Claude Code: system blocks with a breakpoint, `metadata.user_id`, a breakpoint on the newest
block, its billing line with a fresh `cch` nonce every request), non-streamed so usage is read
from the body. The native Anthropic route leaves the billing line out: the mock hashes it as
content, while Anthropic itself does not let it break the cache.

Each route's instructions start with its own tag, so no route reads what another wrote.
Cached share = cache reads / all input tokens (reads + writes + uncached), over turns 2–20 and
over all 20. The verdicts come from `crossbar_cache_verdicts_total` (scraped before and after).

  .venv/bin/python bench/cache_replay.py [--crossbar target/release/crossbar] [--turns 20]
"""
import argparse
import json
import os
import random
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

INSTRUCTIONS = (
    "You are a coding agent running in a terminal. You help the user with software engineering tasks: "
    "read the code before changing it, make small verified edits, run the tests, and report what you did. "
) * 30
TOOLS = [
    ("shell", "Run a shell command and return its output.", {"cmd": {"type": "array", "items": {"type": "string"}}, "workdir": {"type": "string"}}),
    ("read_file", "Read a file from the workspace.", {"path": {"type": "string"}, "offset": {"type": "integer"}, "limit": {"type": "integer"}}),
    ("apply_patch", "Apply a unified diff to the workspace.", {"patch": {"type": "string"}}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def recording(turns: int, seed: int = 14):
    """The conversation as (kind, payload) steps: a task, then per turn a call and its output."""
    rng = random.Random(seed)
    steps = [("user", "The parser test `nested_lists` fails since the last refactor. Find out why and fix it.")]
    for i in range(turns - 1):
        name = ["shell", "read_file", "apply_patch"][i % 3]
        args = {
            "shell": {"cmd": ["cargo", "test", "-p", "parser", f"case_{i}"], "workdir": "/repo"},
            "read_file": {"path": f"src/parser/part_{i}.rs", "offset": 0, "limit": 400},
            "apply_patch": {"patch": f"--- a/src/parser/part_{i}.rs\n+++ b/src/parser/part_{i}.rs\n@@ -1 +1 @@\n-old\n+new\n"},
        }[name]
        words = ["fn", "let", "match", "Some(x)", "=>", "return", "Ok(())", "parse", "token", "list", "{", "}", ";"]
        output = " ".join(rng.choice(words) for _ in range(rng.randint(100, 1200)))
        steps.append(("call", (f"call_{i}", name, args, output)))
        if i % 7 == 6:
            steps.append(("user", f"Also keep clippy clean (step {i})."))
    return steps


def history(steps, turn: int):
    """The steps a request at `turn` (0-based) carries: the task, then `turn` calls (and the
    follow-ups that came before the last of them)."""
    out, calls = [], 0
    for kind, payload in steps:
        if kind == "call":
            if calls == turn:
                break
            calls += 1
        out.append((kind, payload))
    return out


def codex_body(model: str, steps, conv: str):
    items = []
    for kind, p in steps:
        if kind == "user":
            items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": p}]})
        else:
            cid, name, args, output = p
            items.append({"type": "function_call", "call_id": cid, "name": name, "arguments": json.dumps(args)})
            items.append({"type": "function_call_output", "call_id": cid, "output": output})
    return {
        "model": model,
        "instructions": f"[{conv}] {INSTRUCTIONS}",
        "tools": [{"type": "function", "name": n, "description": d, "strict": False,
                   "parameters": {"type": "object", "properties": props}} for n, d, props in TOOLS],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "store": False,
        "stream": False,
        "prompt_cache_key": conv,
        "input": items,
    }


def claude_body(model: str, steps, conv: str, nonce: bool, rng: random.Random):
    messages = []
    for kind, p in steps:
        if kind == "user":
            block = {"type": "text", "text": p}
            if messages and messages[-1]["role"] == "user":
                messages[-1]["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block]})
        else:
            cid, name, args, output = p
            messages.append({"role": "assistant", "content": [{"type": "tool_use", "id": cid, "name": name, "input": args}]})
            messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": cid, "content": output}]})
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"[{conv}] {INSTRUCTIONS}", "cache_control": {"type": "ephemeral"}}]
    if nonce:
        line = f"x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch={rng.getrandbits(20):05x};"
        system.insert(0, {"type": "text", "text": line})
    return {
        "model": model,
        "max_tokens": 4096,
        "system": system,
        "tools": [{"name": n, "description": d, "input_schema": {"type": "object", "properties": props}} for n, d, props in TOOLS],
        "metadata": {"user_id": json.dumps({"session_id": conv})},
        "messages": messages,
    }


def usage_of(protocol: str, body: dict):
    """(all input tokens, cache reads) from the client protocol's usage."""
    u = body["usage"]
    if protocol == "responses":
        return u["input_tokens"], (u.get("input_tokens_details") or {}).get("cached_tokens", 0)
    read, written = u.get("cache_read_input_tokens", 0) or 0, u.get("cache_creation_input_tokens", 0) or 0
    return u["input_tokens"] + read + written, read


def verdicts(gw: str) -> dict:
    text = httpx.get(f"{gw}/metrics", timeout=10).text
    out = {}
    for m in re.finditer(r'crossbar_cache_verdicts_total\{verdict="(\w+)",reason="(\w+)"\} (\d+)', text):
        out[(m[1], m[2])] = int(m[3])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crossbar", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "crossbar"))
    ap.add_argument("--turns", type=int, default=20)
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="crossbar-cache-replay-")
    mock_port, gw_port = free_port(), free_port()
    mock = f"http://127.0.0.1:{mock_port}"
    gw = f"http://127.0.0.1:{gw_port}"
    config = Path(data) / "crossbar.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:{gw_port}"
data_dir = "{data}"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{mock}"
api_key = "sk-ant-replay"
headers = {{ "x-mock" = "cache" }}

[[providers]]
name = "openai"
kind = "openai-responses"
base_url = "{mock}/v1"
api_key = "sk-replay"
headers = {{ "x-mock" = "cache" }}
""")
    procs = [subprocess.Popen([args.crossbar, "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"])]
    try:
        wait_ready(f"{mock}/_mock/requests", procs[0])
        procs.append(subprocess.Popen([args.crossbar, "serve", "--config", str(config)], stderr=subprocess.DEVNULL))
        wait_ready(f"{gw}/healthz", procs[1])
        steps = recording(args.turns)
        rng = random.Random(7)
        routes = [
            ("Codex (Responses) → Anthropic", "responses", "anthropic/claude-sonnet-4-5", False),
            ("Codex (Responses) → OpenAI, native", "responses", "openai/gpt-5", False),
            ("Claude Code (Anthropic) → OpenAI", "anthropic", "openai/gpt-5", True),
            ("Claude Code (Anthropic) → Anthropic, native", "anthropic", "anthropic/claude-sonnet-4-5", False),
        ]
        rows = []
        with httpx.Client(timeout=60) as c:
            for name, protocol, model, nonce in routes:
                conv = f"replay-{len(rows)}"
                before = verdicts(gw)
                per_turn = []
                for turn in range(args.turns):
                    h = history(steps, turn)
                    if protocol == "responses":
                        r = c.post(f"{gw}/v1/responses", json=codex_body(model, h, conv), headers={"session_id": conv})
                    else:
                        r = c.post(f"{gw}/v1/messages", json=claude_body(model, h, conv, nonce, rng), headers={"anthropic-version": "2023-06-01"})
                    if r.status_code != 200:
                        raise SystemExit(f"{name} turn {turn + 1}: {r.status_code} {r.text[:300]}")
                    per_turn.append(usage_of(protocol, r.json()))
                # The last record is written when its body ends: wait for its verdict to be counted.
                deadline = time.time() + 10
                while sum(verdicts(gw).values()) - sum(before.values()) < args.turns and time.time() < deadline:
                    time.sleep(0.05)
                after = verdicts(gw)
                counts = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
                total_in = sum(i for i, _ in per_turn)
                total_read = sum(r for _, r in per_turn)
                later_in = sum(i for i, _ in per_turn[1:])
                later_read = sum(r for _, r in per_turn[1:])
                rows.append((name, total_in, total_read, later_read / later_in if later_in else 0.0,
                             total_read / total_in if total_in else 0.0, counts))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)
    print(f"{args.turns}-turn replay, input tokens as the mock counts them (bytes / 4)\n")
    print("| route | input tokens | cache reads | cached, turns 2–20 | cached, all turns | verdicts |")
    print("|---|---:|---:|---:|---:|---|")
    for name, total_in, total_read, later, overall, counts in rows:
        v = ", ".join(f"{n} {k[0]}{'' if k[1] == 'none' else ':' + k[1]}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"| {name} | {total_in:,} | {total_read:,} | {later * 100:.1f} % | {overall * 100:.1f} % | {v} |")


if __name__ == "__main__":
    main()
