"""A stream whose upstream just stops (a clean end without the terminal event) must reach
each official SDK as an error its stream helper raises — never a hang, never a silent partial
answer — whether crossbar relays the stream (same protocol) or translates it."""
import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes

PROMPT = "a cut answer mock:eof mock:words=8"
UPSTREAMS = {
    "chat": "up-chat/gpt-x",
    "responses": "up-responses/gpt-x",
    "anthropic": "up-anthropic/claude-x",
    "gemini": "up-gemini/gemini-x",
}


def oai(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_chat_stream_raises(gateway, upstream):
    client = oai(gateway)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model=UPSTREAMS[upstream], messages=[{"role": "user", "content": PROMPT}], stream=True
        ):
            pass
    with pytest.raises(openai.APIError):
        with client.chat.completions.stream(model=UPSTREAMS[upstream], messages=[{"role": "user", "content": PROMPT}]) as s:
            s.get_final_completion()


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_responses_stream_helper_raises(gateway, upstream):
    client = oai(gateway)
    types = []
    # crossbar's response.failed either raises while iterating, or the helper refuses the
    # stream at the end ("Didn't receive a `response.completed` event").
    with pytest.raises((openai.OpenAIError, RuntimeError)):
        with client.responses.stream(model=UPSTREAMS[upstream], input=PROMPT) as s:
            for event in s:
                types.append(event.type)
            s.get_final_response()
    assert "response.completed" not in types


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_anthropic_stream_helper_raises(gateway, upstream):
    client = anthropic.Anthropic(base_url=gateway, api_key="unused", max_retries=0, timeout=30)
    with pytest.raises(anthropic.APIError):
        with client.messages.stream(
            model=UPSTREAMS[upstream], max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
        ) as s:
            s.get_final_message()


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_gemini_stream_raises(gateway, upstream):
    client = genai.Client(
        api_key="unused",
        http_options=gtypes.HttpOptions(base_url=gateway, timeout=30_000, retry_options=gtypes.HttpRetryOptions(attempts=1)),
    )
    with pytest.raises(Exception) as raised:
        for _ in client.models.generate_content_stream(model=UPSTREAMS[upstream], contents=PROMPT):
            pass
    assert "terminal" in str(raised.value) or "ended" in str(raised.value) or "finish" in str(raised.value), raised.value
