"""The official OpenAI SDK's Responses WebSocket mode (`client.responses.connect()`) through
crossbar, against every upstream kind: a tool round trip on one socket with incremental input
(`previous_response_id` + the tool output only); crossbar sends each upstream the whole
conversation."""
import openai
import pytest

UPSTREAMS = ["up-chat", "up-responses", "up-anthropic", "up-gemini"]
TOOLS = [{
    "type": "function", "name": "get_weather", "description": "weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]


def until_done(conn):
    events = []
    for event in conn:
        events.append(event)
        if event.type in ("response.completed", "response.failed", "error"):
            return events
    raise AssertionError(f"the socket ended: {events}")


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_tool_round_trip_on_one_socket(gateway, mock_requests, upstream):
    client = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)
    model = f"{upstream}/model-ws"
    with client.responses.connect() as conn:
        conn.response.create(model=model, input="weather in Paris? sdk-ws-first mock:tool", tools=TOOLS, store=False)
        first = until_done(conn)
        assert first[-1].type == "response.completed", first[-1]
        calls = [e.item for e in first if e.type == "response.output_item.done" and e.item.type == "function_call"]
        assert calls and calls[0].name == "get_weather", first
        conn.response.create(
            model=model,
            previous_response_id=first[-1].response.id,
            input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny-ws"}],
            tools=TOOLS,
            store=False,
        )
        second = until_done(conn)
        assert second[-1].type == "response.completed", second[-1]
        text = "".join(e.delta for e in second if e.type == "response.output_text.delta")
        assert "sunny-ws" in text, text
        # An anchor from elsewhere: the SDK surfaces crossbar's wrapped error event.
        conn.response.create(model=model, previous_response_id="resp_elsewhere", input="x", store=False)
        err = until_done(conn)[-1]
        assert err.type == "error", err
    posts = [r for r in mock_requests() if r["method"] == "POST"]
    assert len(posts) == 2, posts
    assert "sdk-ws-first" in str(posts[1]["body"]) and "sunny-ws" in str(posts[1]["body"]), posts[1]["body"]
