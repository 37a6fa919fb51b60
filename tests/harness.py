"""Process helpers shared by the Python suites (tests/sdk and tests/agents): where the crossbar
binary is, a free loopback port, waiting for a started server to answer, and the mock upstream's
fixtures (each conftest imports `mock_url` and `mock_requests` from here)."""
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def crossbar_binary() -> str:
    if os.environ.get("CROSSBAR_BIN"):
        return os.environ["CROSSBAR_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return str(Path(target) / "debug" / "crossbar")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@pytest.fixture(scope="session")
def mock_url():
    """`crossbar mock-upstream` on a free port, for the whole session."""
    port = free_port()
    proc = subprocess.Popen([crossbar_binary(), "mock-upstream", "--listen", f"127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/_mock/requests", proc, "mock upstream")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def mock_requests(mock_url):
    """A function giving the requests the mock upstream received since the test began."""
    httpx.delete(f"{mock_url}/_mock/requests")

    def since():
        return httpx.get(f"{mock_url}/_mock/requests").json()

    return since
