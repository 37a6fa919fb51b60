"""A 20-tool-call agent session through crossbar, over HTTP and over the Responses WebSocket.

Usage: .venv/bin/python bench/ws_session.py [KIND ...]   (needs `websockets` and `httpx`;
CROSSBAR_BIN or CARGO_TARGET_DIR locate the binary, as for the Python suites.)

Starts the mock upstream and crossbar on free ports. Each session sends a Codex-sized request
(12 KB of instructions, 10 tools) and 21 responses: every turn returns the previous call's
output plus a user message asking for the next call (`mock:tool`), the last answers in text.
Over HTTP every request carries the whole conversation (as Codex sends it); over WebSocket
each `response.create` carries `previous_response_id` and only the new items. Reported: wall
time of the session and the bytes the client sent (request bodies / frame payloads; HTTP
headers excluded), median of 5 sessions per transport.
"""
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from harness import crossbar_binary, free_port, wait_ready  # noqa: E402

CALLS = 20
RUNS = 5
INSTRUCTIONS = ("You are a coding agent. Read before you change; run the most specific checks. " * 160)[:12000]
TOOLS = [
    {"type": "function", "name": f"tool_{i}" if i else "exec_command", "description": "d" * 200,
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}, "workdir": {"type": "string"}},
                    "required": ["cmd"]}}
    for i in range(10)
]


def user(text):
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def base(model):
    return {"model": model, "instructions": INSTRUCTIONS, "tools": TOOLS, "store": False, "stream": True}


def step_input(i, call_id):
    items = [] if call_id is None else [{"type": "function_call_output", "call_id": call_id, "output": f"out-{i}"}]
    text = f"step {i}: call the tool mock:tool" if i < CALLS else "now answer in text"
    return items + [user(text)]


def outputs(events):
    items = [e["item"] for e in events if e.get("type") == "response.output_item.done"]
    for it in items:
        it.pop("id", None)
    call = next((it["call_id"] for it in items if it.get("type") == "function_call"), None)
    rid = next((e["response"]["id"] for e in events if e.get("type") == "response.completed"), None)
    return items, call, rid


async def http_session(url, model):
    sent, history, call = 0, [], None
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(CALLS + 1):
            history += step_input(i, call)
            body = json.dumps({**base(model), "input": history}).encode()
            sent += len(body)
            events = []
            async with client.stream("POST", f"{url}/v1/responses", content=body,
                                     headers={"content-type": "application/json"}) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        events.append(json.loads(line[6:]))
            items, call, _ = outputs(events)
            history += items
    return sent


async def ws_session(url, model):
    sent, prev, call = 0, None, None
    async with websockets.connect(url.replace("http://", "ws://") + "/v1/responses", max_size=None) as ws:
        for i in range(CALLS + 1):
            frame = {"type": "response.create", **base(model), "input": step_input(i, call)}
            if prev:
                frame["previous_response_id"] = prev
            text = json.dumps(frame)
            sent += len(text.encode())
            await ws.send(text)
            events = []
            while True:
                e = json.loads(await ws.recv())
                events.append(e)
                if e["type"] in ("response.completed", "response.failed", "error"):
                    break
            _, call, prev = outputs(events)
            assert prev, events[-1]
    return sent


@contextlib.contextmanager
def gateway(providers):
    """The mock upstream and crossbar on free ports, crossbar configured with the
    `[[providers]]` text `providers(mock_url)` returns; yields (crossbar URL, mock URL)."""
    data = tempfile.mkdtemp(prefix="crossbar-ws-bench-")
    mock_port, port = free_port(), free_port()
    mock = subprocess.Popen([crossbar_binary(), "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"])
    mock_url = f"http://127.0.0.1:{mock_port}"
    config = Path(data) / "crossbar.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{data}"\n' + providers(mock_url))
    gw = subprocess.Popen([crossbar_binary(), "serve", "--config", str(config)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{mock_url}/_mock/requests", mock, "the mock upstream")
        wait_ready(f"{url}/healthz", gw, "crossbar")
        yield url, mock_url
    finally:
        gw.terminate()
        mock.terminate()
        gw.wait(10)
        mock.wait(10)


def main():
    kinds = sys.argv[1:] or ["anthropic", "openai-responses"]

    def providers(mock_url):
        text = ""
        for kind in kinds:
            base_url = f"{mock_url}/v1" if kind.startswith("openai") else mock_url
            text += f'\n[[providers]]\nname = "{kind}"\nkind = "{kind}"\nbase_url = "{base_url}"\napi_key = "k"\n'
        return text

    with gateway(providers) as (url, _):
        result = {}
        for kind in kinds:
            model = f"{kind}/mock-model"
            for name, session in (("http", http_session), ("websocket", ws_session)):
                times, sent = [], 0
                for _ in range(RUNS):
                    t = time.perf_counter()
                    sent = asyncio.run(session(url, model))
                    times.append((time.perf_counter() - t) * 1000)
                result[f"{kind}/{name}"] = {"ms_median": round(statistics.median(times), 1),
                                            "client_bytes_sent": sent}
        print(json.dumps(result, indent=1))

if __name__ == "__main__":
    main()
