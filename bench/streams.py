#!/usr/bin/env python3
"""Stream measurements for bench/relay.sh (standard library only).

  streams.py timing DIRECT_URL GATEWAY_URL MODEL_DIRECT MODEL_GATEWAY
      time to first byte and inter-chunk gaps of a slow stream, direct vs through crossbar
  streams.py idle GATEWAY_URL MODEL PID N
      opens N concurrent streams that sit idle, reports the gateway's RSS, then closes them
  streams.py rate URL MODEL RATE SECONDS
      opens RATE short streams a second (each on its own connection) for SECONDS, reports the
      time to the first response byte (p50 / p99) and the rate reached
"""
import asyncio
import json
import statistics
import sys
import time
from urllib.parse import urlparse


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def open_stream(url, model, text):
    u = urlparse(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    return reader, writer


async def chunk_times(url, model, text):
    t0 = time.perf_counter()
    reader, writer = await open_stream(url, model, text)
    times = []
    while True:
        data = await reader.read(65536)
        if not data:
            break
        times.append(time.perf_counter() - t0)
        if b"[DONE]" in data:
            break
    writer.close()
    return times


async def timing(direct, gateway, model_direct, model_gateway):
    text = "mock:slow=50 mock:words=20"
    out = {}
    for name, url, model in (("direct", direct, model_direct), ("crossbar", gateway, model_gateway)):
        ttfb, gaps = [], []
        for _ in range(5):
            times = await chunk_times(url, model, text)
            ttfb.append(times[0] * 1000)
            gaps += [(b - a) * 1000 for a, b in zip(times[1:], times[2:])]
        out[name] = {
            "ttfb_ms_median": round(statistics.median(ttfb), 2),
            "gap_ms_median": round(statistics.median(gaps), 2) if gaps else None,
            "gap_ms_p90": round(sorted(gaps)[int(len(gaps) * 0.9)], 2) if gaps else None,
            "chunks_per_stream": round(len(gaps) / 5 + 2, 1),
        }
    print(json.dumps(out))


async def idle(gateway, model, pid, n):
    before = rss_kib(pid)
    conns = []
    for i in range(0, n, 100):
        batch = await asyncio.gather(*(open_stream(gateway, model, "mock:stall-mid=60000") for _ in range(min(100, n - i))))
        conns += batch
    # wait for every stream's first bytes, so each one is really open through the gateway
    await asyncio.gather(*(r.read(1) for r, _ in conns))
    await asyncio.sleep(1)
    during = rss_kib(pid)
    for _, w in conns:
        w.close()
    print(json.dumps({"streams": n, "rss_before_mib": round(before / 1024, 1), "rss_with_streams_mib": round(during / 1024, 1)}))


async def one_stream(url, model):
    t0 = time.perf_counter()
    try:
        reader, writer = await open_stream(url, model, "mock:words=5")
        first = await reader.read(65536)
        ttfb = time.perf_counter() - t0
        data = first
        while data and b"[DONE]" not in data:
            data = await reader.read(65536)
        writer.close()
        return ttfb if first else None
    except OSError:
        return None


async def rate(url, model, per_sec, secs):
    n = int(per_sec * secs)
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        delay = t0 + i / per_sec - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one_stream(url, model)))
    started = time.perf_counter() - t0
    results = await asyncio.gather(*tasks)
    ok = sorted(r * 1000 for r in results if r is not None)
    pct = lambda q: round(ok[min(len(ok) - 1, int(len(ok) * q))], 2) if ok else None
    print(json.dumps({"streams": n, "ok": len(ok), "rate_reached": round(n / started, 1),
                      "ttfb_ms_p50": pct(0.5), "ttfb_ms_p99": pct(0.99)}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "timing":
        asyncio.run(timing(*sys.argv[2:6]))
    elif cmd == "rate":
        asyncio.run(rate(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
    else:
        asyncio.run(idle(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
