#!/usr/bin/env python3
"""Record real agent sessions for the prompt-cache replay (issue 14, `bench/cache_replay.py`).

Runs the pinned CLIs of tests/agents (Codex, Claude Code, OpenCode: installed and configured
the way that suite does it) against crossbar and the mock upstream, each on its native
upstream, with a prompt carrying `mock:steps=N`: the mock answers with a shell tool call N
times before its final answer, so each CLI runs an (N+1)-request tool session, sending its own
system prompt, tools, history and headers. The request bodies crossbar relayed (the mock's own
request log; a same-protocol relay changes only `model`) are written to
`bench/sessions/<client>.json.gz`:

  {"client", "protocol", "path", "requests": [{"headers": {...}, "body": {...}, "same": [...]}, ...]}

where `same` names the top-level body members left out because they equal the previous
request's (Claude Code's 60 KB of tools would otherwise be stored 21 times; `cache_replay.py`
puts them back),

only the generation requests of the main conversation (the CLIs' side calls — titles, token
counts — are left out), headers limited to the few a replay needs (no credentials).

  .venv/bin/python bench/record_sessions.py [--steps 20] [--only claude]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "agents"))
from harness import crossbar_binary, free_port, wait_ready  # noqa: E402
from conftest import gateway_config, make_sandbox  # noqa: E402
import runners  # noqa: E402

OUT = ROOT / "bench" / "sessions"
# Headers a replay sends again (the rest are transport or credentials).
KEEP_HEADERS = {"anthropic-version", "anthropic-beta", "session-id", "session_id", "conversation_id",
                "x-codex-window-id", "x-session-id"}

# client → (protocol, the mock path of its generation requests, alias of its native upstream)
CLIENTS = {
    "codex": ("responses", "/v1/responses", "via-responses"),
    "claude": ("anthropic", "/v1/messages", "via-anthropic"),
    "opencode": ("chat", "/v1/chat/completions", "via-chat"),
}


def prompt(steps: int) -> str:
    return (
        "Investigate why the build is slow: run one shell command at a time with your shell tool "
        f"and look at each result before the next. mock:steps={steps}"
    )


def run(client: str, box: dict, gw: str, alias: str, steps: int):
    runners.RUN_TIMEOUT = 600
    if client == "codex":
        return runners.run_codex(box, gw, alias, prompt(steps))
    if client == "claude":
        return runners.run_claude(box, gw, alias, prompt(steps))
    return runners.run_opencode(box, gw, alias, prompt(steps))


def main_conversation(requests: list, path: str, steps: int) -> list:
    """The generation requests that carry the session's prompt (not the side calls)."""
    marker = f"mock:steps={steps}"
    out = []
    for r in requests:
        if r["method"] != "POST" or not r["path"].endswith(path) or not isinstance(r["body"], dict):
            continue
        if not r["body"].get("tools") or marker not in json.dumps(r["body"]):
            continue
        headers = {k: v for k, v in r["headers"].items() if k in KEEP_HEADERS}
        out.append({"headers": headers, "body": r["body"]})
    return out


def compact(requests: list) -> list:
    """Leave out the top-level members equal to the previous request's (listed in `same`)."""
    out, prev = [], {}
    for r in requests:
        body = r["body"]
        same = [k for k, v in body.items() if k in prev and prev[k] == v and len(json.dumps(v)) > 256]
        out.append({"headers": r["headers"], "body": {k: v for k, v in body.items() if k not in same}, "same": same})
        prev = body
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", choices=list(CLIENTS))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="crossbar-record-"))
    mock_port, gw_port = free_port(), free_port()
    mock, gw = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{gw_port}"
    config = tmp / "crossbar.toml"
    config.write_text(gateway_config(gw_port, str(tmp), mock))
    procs = [subprocess.Popen([crossbar_binary(), "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"])]
    try:
        wait_ready(f"{mock}/_mock/requests", procs[0], "mock upstream")
        procs.append(subprocess.Popen([crossbar_binary(), "serve", "--config", str(config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_ready(f"{gw}/healthz", procs[1], "crossbar")
        for client, (protocol, path, alias) in CLIENTS.items():
            if args.only and client != args.only:
                continue
            httpx.delete(f"{mock}/_mock/requests")
            box = make_sandbox(tmp / client)
            r = run(client, box, gw, alias, args.steps)
            requests = main_conversation(httpx.get(f"{mock}/_mock/requests", timeout=30).json(), path, args.steps)
            if r.rc != 0 or len(requests) < args.steps + 1:
                raise SystemExit(f"{client}: rc {r.rc}, {len(requests)} requests recorded\n{r.describe()}")
            doc = {"client": client, "protocol": protocol, "path": path, "requests": compact(requests)}
            target = OUT / f"{client}.json.gz"
            with gzip.open(target, "wt", compresslevel=9) as f:
                json.dump(doc, f, separators=(",", ":"))
            print(f"{client}: {len(requests)} requests, {target.stat().st_size:,} bytes → {target.relative_to(ROOT)}")
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
