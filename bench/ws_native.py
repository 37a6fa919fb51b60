"""A 20-tool-call Responses socket session through crossbar: native upstream socket vs bridge.

Usage: .venv/bin/python bench/ws_native.py   (needs `websockets` and `httpx`; CROSSBAR_BIN or
CARGO_TARGET_DIR locate the binary, as for the Python suites.)

The session is bench/ws_session.py's (21 turns, Codex-sized instructions and tools, each turn
the previous call's output and a new user message; the client's frames are incremental). Three
routes to the same mock upstream (`crossbar mock-upstream`): `http` (the client POSTs the whole
conversation each turn, for reference), `bridge` (the client's socket, crossbar rebuilds each
turn and POSTs it upstream: an `openai` provider without `websocket`) and `native` (the same
provider with `websocket = true`: crossbar's own upstream socket, incremental frames).
`direct-http` and `direct-socket` run the same two sessions straight against the mock.
Reported per route: median wall time of RUNS sessions and the request bytes the upstream
received per session (the mock's `/_mock/traffic`: HTTP bodies + socket frames).
"""
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ws_session import gateway, http_session, ws_session  # noqa: E402

RUNS = 7


def upstream_bytes(mock_url):
    t = httpx.get(f"{mock_url}/_mock/traffic").json()
    return t["http_bytes"] + t["websocket_bytes"]


def main():
    def providers(mock_url):
        return "".join(f'\n[[providers]]\nname = "{name}"\nkind = "openai"\nbase_url = "{mock_url}/v1"\n'
                       f'api_key = "k"\nwebsocket = {ws}\n' for name, ws in (("bridge", "false"), ("native", "true")))

    with gateway(providers) as (url, mock_url):
        result = {}
        # `direct-*`: the same sessions straight to the mock, without crossbar (what the mock's
        # own HTTP and socket paths cost; the difference to them is crossbar's).
        routes = (("http", "bridge/m", http_session, url), ("bridge", "bridge/m", ws_session, url),
                  ("native", "native/m", ws_session, url), ("direct-http", "m", http_session, mock_url),
                  ("direct-socket", "m", ws_session, mock_url))
        # Interleaved runs, so a burst of load from other processes hits every route alike.
        times = {name: [] for name, _, _, _ in routes}
        sent = {}
        for _ in range(RUNS):
            for name, model, session, target in routes:
                before = upstream_bytes(mock_url)
                t = time.perf_counter()
                asyncio.run(session(target, model))
                times[name].append((time.perf_counter() - t) * 1000)
                sent[name] = upstream_bytes(mock_url) - before
        for name, _, _, _ in routes:
            result[name] = {"ms_median": round(statistics.median(times[name]), 1),
                            "ms_min": round(min(times[name]), 1),
                            "upstream_bytes": sent[name]}
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
