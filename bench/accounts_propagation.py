#!/usr/bin/env python3
"""How long a ChatGPT account change made on one gateway takes to reach another one's pool.

Not a test (its numbers depend on the machine): a script whose report goes into
docs/benchmarks.md. For each store it starts the mock upstream and two gateways (`crossbar
serve`) with one `chatgpt` provider:
  - sqlite: both on one data directory (one SQLite file: the version poll, every second);
  - postgres: a fresh database (dropped afterwards) and two data directories sharing only the
    key (the poll, woken by LISTEN/NOTIFY).
Each round adds an account with `crossbar accounts import … --config A` and, once that
command has returned (committed), polls gateway B's `/admin/accounts` every 5 ms until the
account is pooled there; then removes it the same way and waits until B no longer lists it.
Reports the median, p95 and max of both waits.

  python3 bench/accounts_propagation.py [--rounds 20] [--crossbar target/debug/crossbar]
      [--pg postgres://postgres@127.0.0.1:5432/test]
"""
import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from harness import crossbar_binary, free_port, wait_ready  # noqa: E402

ADMIN = "bench-admin"


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def auth_json(path: Path, account: str) -> None:
    id_token = f"{b64(b'{}')}.{b64(json.dumps({'email': f'{account}@example.com'}).encode())}.sig"
    tokens = {"access_token": f"a-{account}", "refresh_token": f"r-{account}", "id_token": id_token, "account_id": account}
    path.write_text(json.dumps({"tokens": tokens}))


def config(path: Path, data: Path, port: int, mock: str, pg: str | None) -> None:
    storage = f'[storage]\nurl = "{pg}"\n' if pg else ""
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{data}"\n{storage}'
        f'[[providers]]\nname = "codex"\nkind = "chatgpt"\nbase_url = "{mock}"\ntoken_url = "{mock}/oauth/token"\n'
    )


def pooled(url: str) -> dict:
    r = httpx.get(f"{url}/admin/accounts", headers={"authorization": f"Bearer {ADMIN}"}, timeout=5)
    r.raise_for_status()
    return {a["id"]: a["pooled"] for a in r.json()["data"]}


def wait(check, what: str) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > 10:
            raise RuntimeError(f"timed out: {what}")
        time.sleep(0.005)
    return time.perf_counter() - start


def run(binary: str, mock: str, pg: str | None, rounds: int) -> tuple[list[float], list[float]]:
    root = Path(tempfile.mkdtemp(prefix="crossbar-acct-bench-"))
    procs = []
    try:
        data_a = root / "a"
        data_b = root / "a" if pg is None else root / "b"
        cfgs, urls = [], []
        for i, data in enumerate([data_a, data_b]):
            data.mkdir(exist_ok=True)
            if i == 1 and data != data_a:
                shutil.copy(data_a / "gateway.key", data / "gateway.key")
            port = free_port()
            cfg = root / f"{i}.toml"
            config(cfg, data, port, mock, pg)
            env = dict(os.environ, CROSSBAR_ADMIN_KEY=ADMIN, RUST_LOG="warn")
            procs.append(subprocess.Popen([binary, "serve", "--config", str(cfg)], env=env))
            urls.append(f"http://127.0.0.1:{port}")
            cfgs.append(cfg)
            wait_ready(f"{urls[-1]}/healthz", procs[-1], f"gateway {i}")
        added, removed = [], []
        for n in range(rounds):
            account = f"acct-{n}"
            auth = root / f"{account}.json"
            auth_json(auth, account)
            subprocess.run([binary, "accounts", "import", str(auth), "--config", str(cfgs[0])], check=True, capture_output=True)
            added.append(wait(lambda: pooled(urls[1]).get(account), f"{account} pooled"))
            subprocess.run([binary, "accounts", "remove", account, "--config", str(cfgs[0])], check=True, capture_output=True)
            removed.append(wait(lambda: account not in pooled(urls[1]), f"{account} removed"))
        return added, removed
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        shutil.rmtree(root, ignore_errors=True)


def summary(xs: list[float]) -> str:
    xs = sorted(x * 1000 for x in xs)
    p95 = xs[min(len(xs) - 1, int(len(xs) * 0.95))]
    return f"median {statistics.median(xs):.0f} ms, p95 {p95:.0f} ms, max {xs[-1]:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--crossbar", default=crossbar_binary())
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    mport = free_port()
    mock_proc = subprocess.Popen([args.crossbar, "mock-upstream", "--listen", f"127.0.0.1:{mport}"])
    mock = f"http://127.0.0.1:{mport}"
    db = f"cb_bench_{uuid.uuid4().hex}"
    base = args.pg.rsplit("/", 1)[0]
    try:
        wait_ready(f"{mock}/_mock/requests", mock_proc, "mock upstream")
        subprocess.run(["psql", args.pg, "-qc", f"CREATE DATABASE {db}"], check=True)
        for name, pg in [("sqlite (one data dir, poll)", None), ("postgres (two data dirs, poll + NOTIFY)", f"{base}/{db}")]:
            added, removed = run(args.crossbar, mock, pg, args.rounds)
            print(f"{name}, {args.rounds} rounds")
            print(f"  added on A → pooled on B:   {summary(added)}")
            print(f"  removed on A → gone from B: {summary(removed)}")
    finally:
        subprocess.run(["psql", args.pg, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=False)
        mock_proc.terminate()
        mock_proc.wait(10)


if __name__ == "__main__":
    main()
