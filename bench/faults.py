#!/usr/bin/env python3
"""Fault benchmark: three crossbar instances sharing one PostgreSQL database and one Redis,
under mixed load through the official SDKs, while things break.

Not a test (it takes minutes and its numbers depend on the machine): a script whose report
goes into docs/benchmarks.md. It starts everything it needs on free loopback ports:
  - a Redis of its own (`redis-server`, never the machine's), a fresh PostgreSQL database
    (dropped afterwards; `--pg` names the server), the mock upstream, three gateways;
  - `--concurrency` clients (default 200) sending OpenAI Chat and Anthropic Messages requests,
    streamed and not, through the `openai` and `anthropic` SDKs, a share of them asking the
    upstream to cut the stream (`mock:drop`), stall (`mock:stall-mid`) or fail (`mock:error=503`);
  - over `--minutes` (default 10): SIGKILL one instance and restart it (at 20 %), SIGTERM another
    and restart it (40 %), restart Redis (60 %).
A client that cannot connect to an instance (killed, draining) moves to the next one, as a
load balancer would. At the end it reports:
  - client requests that failed without a protocol-shaped error (must be 0; requests cut by the
    SIGKILL itself are counted apart);
  - 200 streams that did not end with their protocol's terminal event (must be 0);
  - usage records missing against the responses clients saw (0 outside the killed instance's
    last flush interval);
  - rpm-limit overshoot of a limited key (≤ 2 %);
  - parallel slots still taken in Redis after the run (0; a SIGKILLed instance's in-flight
    slots are reported apart: they expire with the counter);
  - RSS of the instance that ran throughout, first sample after warm-up vs last.

  .venv/bin/python bench/faults.py --minutes 10 [--crossbar target/release/crossbar]
"""
import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anthropic
import openai

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Instance:
    def __init__(self, name, binary, config, port, log):
        self.name, self.binary, self.config, self.port, self.log = name, binary, config, port, log
        self.proc = None
        self.killed_at = None

    def start(self):
        env = dict(os.environ, NO_COLOR="1", RUST_LOG="warn", CROSSBAR_ADMIN_KEY="faults-admin")
        self.proc = subprocess.Popen([self.binary, "serve", "--config", str(self.config)], env=env,
                                     stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def stop(self, sig):
        self.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            self.killed_at = time.time()
        self.proc.wait(60)


class Stats:
    def __init__(self):
        self.sent = 0
        self.ok = 0
        self.shaped_errors = 0
        self.unshaped = []
        self.cut_by_kill = 0
        self.rerouted = 0
        self.streams_ok = 0
        self.streams_without_terminal = []
        self.responses_seen = 0
        self.seen_on = {}


async def one_request(i, stats, instances, keys, deadline):
    kind = random.choice(["chat", "chat-stream", "anthropic", "anthropic-stream"])
    fault = random.random()
    text = "hello there, count me " + " ".join(["word"] * random.randint(5, 40))
    if fault < 0.08:
        text += " mock:drop"
    elif fault < 0.12:
        text += " mock:error=503"
    elif fault < 0.16:
        text += " mock:stall-mid=1500"
    text += f" mock:words={random.randint(5, 60)}"
    limited = random.random() < 0.2
    key = keys["limited" if limited else "main"]
    order = list(range(len(instances)))
    random.shuffle(order)
    stats.sent += 1
    for idx in order:
        inst = instances[idx]
        base = f"http://127.0.0.1:{inst.port}"
        started = time.time()
        try:
            if kind.startswith("chat"):
                c = openai.AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=60)
                args = dict(model="up-chat/gpt-x", messages=[{"role": "user", "content": text}])
                if kind == "chat":
                    await c.chat.completions.create(**args)
                else:
                    async with c.chat.completions.with_streaming_response.create(stream=True, **args) as r:
                        lines = [ln async for ln in r.iter_lines()]
                        done = any(ln.strip() == "data: [DONE]" for ln in lines)
                        if not done:
                            stats.streams_without_terminal.append((kind, lines[-3:]))
                        else:
                            stats.streams_ok += 1
                await c.close()
            else:
                c = anthropic.AsyncAnthropic(base_url=base, api_key=key, max_retries=0, timeout=60)
                args = dict(model="up-anthropic/claude-x", max_tokens=256, messages=[{"role": "user", "content": text}])
                if kind == "anthropic":
                    await c.messages.create(**args)
                else:
                    async with c.messages.with_streaming_response.create(stream=True, **args) as r:
                        lines = [ln async for ln in r.iter_lines()]
                        done = any(ln.strip() in ("event: message_stop", "event: error") for ln in lines)
                        if not done:
                            stats.streams_without_terminal.append((kind, lines[-3:]))
                        else:
                            stats.streams_ok += 1
                await c.close()
            stats.ok += 1
            stats.responses_seen += 1
            stats.seen_on[inst.name] = stats.seen_on.get(inst.name, []) + [time.time()]
            return
        except (openai.APIConnectionError, anthropic.APIConnectionError) as e:
            # Refused (killed or draining instance): the next instance, as a load balancer would.
            # Cut mid-request by a SIGKILL: counted apart.
            if inst.killed_at and started <= inst.killed_at <= time.time() + 1:
                stats.cut_by_kill += 1
                return
            if "Connection refused" in repr(e) or "connect" in repr(e).lower():
                stats.rerouted += 1
                continue
            stats.unshaped.append((kind, repr(e)[:200]))
            return
        except (openai.APIStatusError, anthropic.APIStatusError) as e:
            stats.responses_seen += 1
            stats.seen_on[inst.name] = stats.seen_on.get(inst.name, []) + [time.time()]
            # The openai SDK hands over the inner `error` object; the anthropic SDK the whole body.
            body = e.body if isinstance(e.body, dict) else None
            shaped = body is not None and (
                "error" in body or body.get("type") == "error" or ("message" in body and "type" in body)
            )
            if shaped:
                stats.shaped_errors += 1
            else:
                stats.unshaped.append((kind, e.status_code, str(e.body)[:200]))
            return
        except (openai.APIError, anthropic.APIError) as e:
            # A stream that ended with the protocol's error event: the SDK raised on it.
            stats.responses_seen += 1
            stats.shaped_errors += 1
            return
        except Exception as e:  # noqa: BLE001
            stats.unshaped.append((kind, repr(e)[:200]))
            return
    stats.unshaped.append((kind, "no instance accepted the request"))


async def client_loop(i, stats, instances, keys, deadline):
    while time.time() < deadline:
        await one_request(i, stats, instances, keys, deadline)


REDIS_RESTARTED_AT = []


async def schedule(minutes, instances, redis_restart, rss):
    total = minutes * 60
    t0 = time.time()
    steps = [(0.2, "kill"), (0.4, "term"), (0.6, "redis")]
    survivor = instances[2]
    while time.time() - t0 < total:
        await asyncio.sleep(1)
        frac = (time.time() - t0) / total
        if int(time.time() - t0) % 10 == 0:
            rss.append((time.time() - t0, rss_kib(survivor.proc.pid)))
        while steps and frac >= steps[0][0]:
            _, what = steps.pop(0)
            if what == "kill":
                print(f"[{time.time() - t0:6.1f}s] SIGKILL {instances[0].name}", flush=True)
                await asyncio.to_thread(instances[0].stop, signal.SIGKILL)
                await asyncio.sleep(5)
                await asyncio.to_thread(instances[0].start)
            elif what == "term":
                print(f"[{time.time() - t0:6.1f}s] SIGTERM {instances[1].name}", flush=True)
                await asyncio.to_thread(instances[1].stop, signal.SIGTERM)
                await asyncio.to_thread(instances[1].start)
            else:
                print(f"[{time.time() - t0:6.1f}s] restart redis", flush=True)
                REDIS_RESTARTED_AT.append(time.time())
                await asyncio.to_thread(redis_restart)


def psql(url, sql):
    return subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--crossbar", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "crossbar"))
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--rpm", type=int, default=600, help="rpm limit of the limited key")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="crossbar-faults-"))
    log = open(work / "processes.log", "w")
    db = f"crossbar_faults_{os.getpid()}"
    psql(f"{a.pg}/postgres", f"CREATE DATABASE {db}")
    db_url = f"{a.pg}/{db}"
    redis_port = free_port()
    redis_cmd = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    redis = {"proc": subprocess.Popen(redis_cmd, stdout=log, stderr=log)}
    wait_port(redis_port)

    def redis_restart():
        redis["proc"].terminate()
        redis["proc"].wait(30)
        redis["proc"] = subprocess.Popen(redis_cmd, stdout=log, stderr=log)
        wait_port(redis_port)

    mock_port = free_port()
    mock = subprocess.Popen([a.crossbar, "mock-upstream", "--listen", f"127.0.0.1:{mock_port}"], stdout=log, stderr=log)
    wait_port(mock_port)
    instances = []
    try:
        for n in range(3):
            port = free_port()
            cfg = work / f"i{n}.toml"
            cfg.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{work / 'data'}"
[auth]
[storage]
url = "{db_url}"
[redis]
url = "redis://127.0.0.1:{redis_port}"
prefix = "faults"
[[providers]]
name = "up-chat"
kind = "openai-chat"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key = "sk-faults"
[[providers]]
name = "up-anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:{mock_port}"
api_key = "sk-ant-faults"
[[catalog]]
model = "gpt-x"
input_price = 1.0
output_price = 2.0
[[catalog]]
model = "claude-x"
input_price = 1.0
output_price = 2.0
""")
            instances.append(Instance(f"i{n}", a.crossbar, cfg, port, log))
        keys = {}
        for name, extra in [("main", ["--max-parallel", "100000"]), ("limited", ["--rpm", str(a.rpm), "--max-parallel", "100000"])]:
            out = subprocess.run([a.crossbar, "keys", "create", "--config", str(instances[0].config), "--name", name, *extra],
                                 capture_output=True, text=True, check=True)
            keys[name] = out.stdout.strip().splitlines()[-1]
        for inst in instances:
            inst.start()
        stats = Stats()
        rss = []
        deadline = time.time() + a.minutes * 60

        async def run():
            tasks = [asyncio.create_task(client_loop(i, stats, instances, keys, deadline)) for i in range(a.concurrency)]
            await schedule(a.minutes, instances, redis_restart, rss)
            await asyncio.gather(*tasks)

        t0 = time.time()
        asyncio.run(run())
        elapsed = time.time() - t0
        time.sleep(1.5)  # every instance flushes its usage batch (200 ms) well within this
        for inst in instances:
            inst.stop(signal.SIGTERM)
        rows = int(psql(db_url, "SELECT COUNT(*) FROM usage"))
        ids = {name: k.split("-")[1] for name, k in keys.items()}
        # The limited key's admitted requests per sliding minute, from the usage records.
        ts = [int(x) for x in psql(db_url, f"SELECT ts FROM usage WHERE key_id = '{ids['limited']}' AND status < 400 ORDER BY ts").split() if x]
        worst, worst_steady, j = 0, 0, 0
        restart_ms = [int(t * 1000) for t in REDIS_RESTARTED_AT]
        for i, t in enumerate(ts):
            while ts[j] <= t - 60_000:
                j += 1
            worst = max(worst, i - j + 1)
            # Windows that do not reach across a Redis restart (which forgets every counter).
            if not any(t - 60_000 <= r <= t + 5_000 for r in restart_ms):
                worst_steady = max(worst_steady, i - j + 1)
        par = {}
        for name, kid in ids.items():
            out = subprocess.run(["redis-cli", "-p", str(redis_port), "GET", f"faults:par:{kid}"], capture_output=True, text=True)
            par[name] = int(out.stdout.strip() or 0)
        killed = instances[0].killed_at or 0
        last_flush = sum(1 for t in stats.seen_on.get("i0", []) if killed - 0.2 <= t <= killed)
        report = {
            "minutes": round(elapsed / 60, 1),
            "concurrency": a.concurrency,
            "requests_sent": stats.sent,
            "responses_seen": stats.responses_seen,
            "ok": stats.ok,
            "protocol_shaped_errors": stats.shaped_errors,
            "failed_without_protocol_error": len(stats.unshaped),
            "cut_by_the_sigkill": stats.cut_by_kill,
            "rerouted_on_connect_refused": stats.rerouted,
            "streams_with_terminal_event": stats.streams_ok,
            "streams_without_terminal_event": len(stats.streams_without_terminal),
            "usage_records": rows,
            "usage_records_missing": max(0, stats.responses_seen - rows),
            "missing_allowed_in_the_killed_instances_last_flush": last_flush,
            "limited_key_rpm_limit": a.rpm,
            "limited_key_worst_minute": worst,
            "limit_overshoot_percent": round(max(0, worst - a.rpm) * 100 / a.rpm, 2),
            "limited_key_worst_minute_not_across_the_redis_restart": worst_steady,
            "limit_overshoot_percent_not_across_the_redis_restart": round(max(0, worst_steady - a.rpm) * 100 / a.rpm, 2),
            "parallel_slots_left_in_redis": par,
            "survivor_rss_kib_first_last": [rss[1][1] if len(rss) > 1 else None, rss[-1][1] if rss else None],
        }
        print(json.dumps(report, indent=2))
        for u in stats.unshaped[:10]:
            print("unshaped:", u, file=sys.stderr)
        for s in stats.streams_without_terminal[:5]:
            print("no terminal:", s, file=sys.stderr)
    finally:
        for inst in instances:
            if inst.proc and inst.proc.poll() is None:
                inst.proc.kill()
        mock.kill()
        redis["proc"].kill()
        psql(f"{a.pg}/postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()
