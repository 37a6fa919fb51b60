#!/usr/bin/env python3
"""Prompt-cache replay (issue 14): the agent sessions `bench/record_sessions.py` recorded from
the real CLIs (Codex, Claude Code, OpenCode; 20+ tool turns each, `bench/sessions/*.json.gz`)
replayed STREAMED through crossbar to the mock upstream's cache simulation (`mock:cache`),
each client on a translated route and on its native upstream:

  - Codex (Responses)        → Anthropic (translated: crossbar places breakpoints) and → OpenAI Responses
  - Claude Code (Anthropic)  → OpenAI Responses (translated: prompt_cache_key, nonce removed) and → Anthropic
  - OpenCode (Chat)          → Anthropic (translated) and → OpenAI Chat

Each request is sent as recorded (body and the session headers), with only `model` set and
`stream: true`; usage is read from the client protocol's stream. Each route is its own provider
with its own credential, so no route reads what another wrote. The mock's Anthropic cache
ignores the `cch=` nonce of Claude Code's billing line, as Anthropic does, so the native
Claude Code baseline is the one Anthropic gives.

Cached share = cache reads / all input tokens (reads + writes + uncached), over turns 2+ and
over all. The verdicts come from `crossbar_cache_verdicts_total` (scraped before and after).

  .venv/bin/python bench/cache_replay.py [--crossbar target/release/crossbar]
"""
import argparse
import gzip
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = ROOT / "bench" / "sessions"


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


def sessions() -> dict:
    """The recorded sessions, by client."""
    out = {}
    for f in sorted(SESSIONS.glob("*.json.gz")):
        with gzip.open(f, "rt") as fh:
            doc = json.load(fh)
        prev = {}
        for r in doc["requests"]:
            # Members equal to the previous request's were left out (`record_sessions.compact`).
            r["body"] = dict(r["body"], **{k: prev[k] for k in r.pop("same", [])})
            prev = r["body"]
        out[doc["client"]] = doc
    return out


def request_of(session: dict, req: dict, model: str):
    """(path, body, headers) of one recorded request, streamed, for `model`."""
    body = dict(req["body"], model=model, stream=True)
    if session["protocol"] == "chat":
        body["stream_options"] = {"include_usage": True}
    headers = dict(req["headers"])
    return session["path"], body, headers


def streamed_usage(protocol: str, lines) -> tuple:
    """(all input tokens, cache reads) from the client protocol's streamed events."""
    total = read = 0
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if not data.startswith("{"):
            continue
        ev = json.loads(data)
        if protocol == "responses" and ev.get("type") == "response.completed":
            u = ev["response"].get("usage") or {}
            total, read = u.get("input_tokens", 0), (u.get("input_tokens_details") or {}).get("cached_tokens", 0) or 0
        elif protocol == "chat" and ev.get("usage"):
            u = ev["usage"]
            total, read = u.get("prompt_tokens", 0), (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0
        elif protocol == "anthropic" and ev.get("type") in ("message_start", "message_delta"):
            u = (ev.get("message") or ev).get("usage") or {}
            if "input_tokens" in u or "cache_read_input_tokens" in u:
                fresh = u.get("input_tokens", 0) or 0
                r, w = u.get("cache_read_input_tokens", 0) or 0, u.get("cache_creation_input_tokens", 0) or 0
                total, read = fresh + r + w, r
    return total, read


def verdicts(gw: str) -> dict:
    text = httpx.get(f"{gw}/metrics", timeout=10).text
    out = {}
    for m in re.finditer(r'crossbar_cache_verdicts_total\{verdict="(\w+)",reason="(\w+)"\} (\d+)', text):
        out[(m[1], m[2])] = int(m[3])
    return out


# (label, client, upstream kind, model): each client on a translated route, then on its native one.
ROUTES = [
    ("Codex (Responses) → Anthropic", "codex", "anthropic", "claude-sonnet-4-5"),
    ("Codex (Responses) → OpenAI Responses, native", "codex", "openai-responses", "gpt-5"),
    ("Claude Code (Anthropic) → OpenAI Responses", "claude", "openai-responses", "gpt-5"),
    ("Claude Code (Anthropic) → Anthropic, native", "claude", "anthropic", "claude-sonnet-4-5"),
    ("OpenCode (Chat) → Anthropic", "opencode", "anthropic", "claude-sonnet-4-5"),
    ("OpenCode (Chat) → OpenAI Chat, native", "opencode", "openai-chat", "gpt-5"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crossbar", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "crossbar"))
    args = ap.parse_args()
    recorded = sessions()
    if not recorded:
        raise SystemExit(f"no sessions in {SESSIONS}: run bench/record_sessions.py first")
    data = tempfile.mkdtemp(prefix="crossbar-cache-replay-")
    mock_port, gw_port = free_port(), free_port()
    mock = f"http://127.0.0.1:{mock_port}"
    gw = f"http://127.0.0.1:{gw_port}"
    config = Path(data) / "crossbar.toml"
    # One provider per route (its own credential: its own cache at the mock).
    text = f'[server]\nlisten = "127.0.0.1:{gw_port}"\ndata_dir = "{data}"\n'
    for i, (_, _, kind, _) in enumerate(ROUTES):
        base = mock if kind == "anthropic" else f"{mock}/v1"
        text += (f'\n[[providers]]\nname = "route{i}"\nkind = "{kind}"\nbase_url = "{base}"\n'
                 f'api_key = "sk-replay-{i}"\nheaders = {{ "x-mock" = "cache" }}\n')
    config.write_text(text)
    procs = [subprocess.Popen([args.crossbar, "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"])]
    rows = []
    try:
        wait_ready(f"{mock}/_mock/requests", procs[0])
        procs.append(subprocess.Popen([args.crossbar, "serve", "--config", str(config)], stderr=subprocess.DEVNULL))
        wait_ready(f"{gw}/healthz", procs[1])
        with httpx.Client(timeout=120) as c:
            for i, (name, client, _, model) in enumerate(ROUTES):
                session = recorded.get(client)
                if session is None:
                    continue
                before = verdicts(gw)
                per_turn = []
                for n, req in enumerate(session["requests"]):
                    path, body, headers = request_of(session, req, f"route{i}/{model}")
                    with c.stream("POST", f"{gw}{path}", json=body, headers=headers) as r:
                        if r.status_code != 200:
                            raise SystemExit(f"{name} turn {n + 1}: {r.status_code} {r.read()[:300]!r}")
                        per_turn.append(streamed_usage(session["protocol"], r.iter_lines()))
                turns = len(per_turn)
                # The last record is written when its body ends: wait for its verdict to be counted.
                deadline = time.time() + 10
                while sum(verdicts(gw).values()) - sum(before.values()) < turns and time.time() < deadline:
                    time.sleep(0.05)
                after = verdicts(gw)
                counts = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
                total_in = sum(t for t, _ in per_turn)
                total_read = sum(r for _, r in per_turn)
                later_in = sum(t for t, _ in per_turn[1:])
                later_read = sum(r for _, r in per_turn[1:])
                rows.append((name, turns, total_in, total_read, later_read / later_in if later_in else 0.0,
                             total_read / total_in if total_in else 0.0, counts))
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)
    print("Recorded sessions replayed streamed; input tokens as the mock counts them (bytes / 4)\n")
    print("| route | requests | input tokens | cache reads | cached, turns 2+ | cached, all turns | verdicts |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, turns, total_in, total_read, later, overall, counts in rows:
        v = ", ".join(f"{n} {k[0]}{'' if k[1] == 'none' else ':' + k[1]}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        print(f"| {name} | {turns} | {total_in:,} | {total_read:,} | {later * 100:.1f} % | {overall * 100:.1f} % | {v} |")


if __name__ == "__main__":
    main()
