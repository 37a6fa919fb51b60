#!/usr/bin/env python3
"""A 2 MB Codex request, direct vs relayed vs translated, and startup to first answer
(issue 11's last two targets; standard library only).

  bench/big_request.py [N]          (N requests per path, default 30; builds nothing)
  CROSSBAR_BIN=… FLOOR_BIN=… bench/big_request.py   the binaries to measure (default: the
      release builds in $CARGO_TARGET_DIR or ~/.cache/crossbar-target; `bench/relay.sh` builds
      both)

Starts `crossbar mock-upstream`, the floor (`bench/floor`, a bare pass-through: what relaying
the bytes costs at least) and one gateway (keys off) with two providers on it: `resp`
(kind openai-responses: a Codex request is relayed as bytes) and `anth` (kind anthropic: the
same request is translated to Anthropic Messages). The request is shaped like a long Codex
session: instructions, tools, and 2 MB of input items (messages, function calls and their
outputs), streamed. Each path is timed N times, one request at a time on a kept-alive
connection, from the first byte sent to the stream's last byte; the added time is the median
through crossbar minus the median direct to the mock with a body of the same size and content
in the upstream's own protocol (the mock parses it either way). Then startup: a fresh process
on embedded defaults (no config file, an empty home) until its first answered Chat request to
the built-in mock provider, five times. Prints a markdown report on stdout.
"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/crossbar-target"))
BIN = os.environ.get("CROSSBAR_BIN", os.path.join(TARGET, "release", "crossbar"))
FLOOR = os.environ.get("FLOOR_BIN", os.path.join(TARGET, "release", "crossbar-floor"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 30
SIZE = 2 * 1024 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_up(port, path="/healthz"):
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing answered on port {port}")


def session_turns():
    """(role, kind, text) items until the text alone reaches SIZE: a long agent session."""
    items, total, i = [], 0, 0
    chunk = ("fn step_%d(x: u64) -> u64 { x.wrapping_mul(6364136223846793005) }\n" * 70)
    while total < SIZE:
        text = f"step {i}\n" + chunk % tuple(range(i * 70, i * 70 + 70))
        kind = ("user", "call", "output")[i % 3]
        items.append((kind, text))
        total += 200 if kind == "call" else len(text)  # a call carries 200 characters of it
        i += 1
    return items


def codex_body(model, turns):
    inputs = []
    for n, (kind, text) in enumerate(turns):
        if kind == "user":
            inputs.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        elif kind == "call":
            inputs.append({"type": "function_call", "call_id": f"call_{n}", "name": "shell",
                           "arguments": json.dumps({"command": ["cat", f"src/f{n}.rs"], "note": text[:200]})})
        else:
            inputs.append({"type": "function_call_output", "call_id": f"call_{n - 1}", "output": text})
    inputs.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Reply with exactly pong"}]})
    return {
        "model": model, "instructions": "You are a coding agent.", "input": inputs, "stream": True,
        "store": False, "tools": [{"type": "function", "name": "shell", "description": "run a command",
                                   "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}}],
        "prompt_cache_key": "bench-big-request", "include": ["reasoning.encrypted_content"],
    }


def anthropic_body(model, turns):
    msgs = []
    for n, (kind, text) in enumerate(turns):
        if kind == "user":
            msgs.append({"role": "user", "content": [{"type": "text", "text": text}]})
        elif kind == "call":
            msgs.append({"role": "assistant", "content": [{"type": "tool_use", "id": f"call_{n}", "name": "shell",
                                                           "input": {"command": ["cat", f"src/f{n}.rs"], "note": text[:200]}}]})
        else:
            msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"call_{n - 1}", "content": text}]})
    msgs.append({"role": "user", "content": [{"type": "text", "text": "Reply with exactly pong"}]})
    return {"model": model, "max_tokens": 1024, "system": "You are a coding agent.", "messages": msgs, "stream": True,
            "tools": [{"name": "shell", "description": "run a command",
                       "input_schema": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}}]}


def timed(port, path, body, headers):
    """Milliseconds to the first response byte and to the last, one request at a time."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    first, whole = [], []
    for i in range(N + 2):  # two warm-up requests
        t0 = time.perf_counter()
        conn.request("POST", path, body, {"content-type": "application/json", **headers})
        res = conn.getresponse()
        t1 = time.perf_counter()
        data = res.read()
        t2 = time.perf_counter()
        if res.status != 200:
            sys.exit(f"{path} answered {res.status}: {data[:300]!r}")
        if i >= 2:
            first.append((t1 - t0) * 1000)
            whole.append((t2 - t0) * 1000)
    conn.close()
    return statistics.median(first), statistics.median(whole)


def startup(out):
    """Milliseconds from spawning `crossbar serve` on embedded defaults to its first answer."""
    times = []
    for i in range(5):
        home = os.path.join(out, f"home{i}")
        os.makedirs(home)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(HOME=home, RUST_LOG="warn", XDG_DATA_HOME=os.path.join(home, ".local/share"))
        body = json.dumps({"model": "mock/gpt-4o", "messages": [{"role": "user", "content": "Reply with exactly pong"}]})
        t0 = time.perf_counter()
        proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}"], cwd=home, env=env)
        try:
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
                    res = c.getresponse()
                    res.read()
                    if res.status == 200:
                        break
                    sys.exit(f"startup: first answer was {res.status}")
                except ConnectionRefusedError:
                    time.sleep(0.001)
            times.append((time.perf_counter() - t0) * 1000)
        finally:
            proc.terminate()
            proc.wait()
    return times


def main():
    out = tempfile.mkdtemp()
    mock_port, gw_port, floor_port = free_port(), free_port(), free_port()
    with open(os.path.join(out, "crossbar.toml"), "w") as f:
        f.write(f"""[server]
listen = "127.0.0.1:{gw_port}"
data_dir = "{out}/data"

[[providers]]
name = "resp"
kind = "openai-responses"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key = "bench"

[[providers]]
name = "anth"
kind = "anthropic"
base_url = "http://127.0.0.1:{mock_port}"
api_key = "bench"
""")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["RUST_LOG"] = "warn"
    procs = [
        subprocess.Popen([BIN, "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"], env=env),
        subprocess.Popen([BIN, "serve", "--config", os.path.join(out, "crossbar.toml")], env=env),
        subprocess.Popen([FLOOR, f"127.0.0.1:{floor_port}", f"127.0.0.1:{mock_port}"], env=env),
    ]
    try:
        wait_up(gw_port)
        wait_up(mock_port, "/v1/models")
        turns = session_turns()
        codex_direct = json.dumps(codex_body("gpt-bench", turns)).encode()
        anth_direct = json.dumps(anthropic_body("claude-bench", turns)).encode()
        codex_resp = json.dumps(codex_body("resp/gpt-bench", turns)).encode()
        codex_anth = json.dumps(codex_body("anth/claude-bench", turns)).encode()
        anth_key = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
        rows = [
            ("Codex request direct to the mock (Responses)", timed(mock_port, "/v1/responses", codex_direct, {"authorization": "Bearer bench"}), None),
            ("the same content direct to the mock (Anthropic Messages)", timed(mock_port, "/v1/messages", anth_direct, anth_key), None),
        ]
        rows.append(("through the floor (bench/floor: a bare pass-through)", timed(floor_port, "/v1/responses", codex_direct, {"authorization": "Bearer bench"}), rows[0][1]))
        rows.append(("through crossbar, relayed (openai-responses provider)", timed(gw_port, "/v1/responses", codex_resp, {}), rows[0][1]))
        rows.append(("through crossbar, translated (anthropic provider)", timed(gw_port, "/v1/responses", codex_anth, {}), rows[1][1]))
        print(f"A Codex request of {len(codex_direct) / 1e6:.2f} MB ({len(turns) + 1} input items), streamed; "
              f"median of {N}, one at a time, milliseconds\n")
        print("| path | first byte | last byte | added over direct (last byte) |")
        print("|---|---:|---:|---:|")
        for name, (first, whole), base in rows:
            added = f"+{whole - base[1]:.2f}" if base else "—"
            print(f"| {name} | {first:.2f} | {whole:.2f} | {added} |")
        times = startup(out)
        print(f"\nStartup to the first answered request on embedded defaults (ms, 5 runs): "
              f"{', '.join(f'{t:.1f}' for t in times)}; median {statistics.median(times):.1f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run(["rm", "-rf", out])


if __name__ == "__main__":
    main()
