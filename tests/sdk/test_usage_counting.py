"""A streamed Chat request made the SDK's default way (no `stream_options.include_usage`) is
counted — crossbar asks the upstream for usage on the client's behalf — and the client's
chunks are exactly what it asked for (no usage chunk, no `usage` on the others)."""
import re
import time
import urllib.request

import openai
import pytest


def output_tokens(gateway, provider):
    text = urllib.request.urlopen(gateway + "/metrics", timeout=10).read().decode()
    pattern = r'crossbar_tokens_total\{[^}]*provider="%s"[^}]*direction="output"[^}]*\} (\d+)' % re.escape(provider)
    alt = r'crossbar_tokens_total\{[^}]*direction="output"[^}]*provider="%s"[^}]*\} (\d+)' % re.escape(provider)
    m = re.search(pattern, text) or re.search(alt, text)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("model,provider", [("up-chat/gpt-x", "up-chat"), ("mock/echo", "mock")])
def test_default_chat_stream_is_counted_and_unchanged(gateway, model, provider):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    before = output_tokens(gateway, provider)
    chunks = list(
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "count me mock:words=6"}], stream=True
        )
    )
    assert all(c.usage is None for c in chunks), [c.usage for c in chunks]
    assert all(c.choices for c in chunks), "no usage-only chunk reaches the client"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert len(text.split()) == 6, text
    # The record is made when the gateway drops the finished body, a moment after the client
    # read its end: wait for it (bounded), not for a fixed time.
    deadline = time.time() + 5
    while output_tokens(gateway, provider) - before < 6 and time.time() < deadline:
        time.sleep(0.05)
    assert output_tokens(gateway, provider) - before == 6
