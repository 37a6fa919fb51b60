"""Starts the mock upstream and crossbar (the real binary) on free ports for the SDK suite.

The gateway is configured with one provider of every upstream kind, all pointing at the mock
upstream over HTTP, plus the built-in in-process `mock` provider.
"""
import sys
import subprocess
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import crossbar_binary as _binary, free_port as _free_port, mock_requests, mock_url, wait_ready as _wait  # noqa: E402,F401


@pytest.fixture(scope="session")
def gateway(mock_url):
    port = _free_port()
    data = tempfile.mkdtemp(prefix="crossbar-sdk-")
    config = Path(data) / "crossbar.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"

[[providers]]
name = "mock"
kind = "mock"

[[providers]]
name = "up-chat"
kind = "openai-chat"
base_url = "{mock_url}/v1"
api_key = "sk-up-chat"

[[providers]]
name = "up-responses"
kind = "openai-responses"
base_url = "{mock_url}/v1"
api_key = "sk-up-responses"

[[providers]]
name = "up-anthropic"
kind = "anthropic"
base_url = "{mock_url}"
api_key = "sk-ant-up"

[[providers]]
name = "up-gemini"
kind = "gemini"
base_url = "{mock_url}"
api_key = "up-gemini-key"
"""
    )
    proc = subprocess.Popen([_binary(), "serve", "--config", str(config)])
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/healthz", proc, "crossbar")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
