"""Same-protocol traffic through crossbar, checked by the official SDKs' own parsers and
stream helpers (which enforce event order and shapes)."""
import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes

# The built-in mock (in-process) and the mock upstream over HTTP, per protocol.
CHAT_MODELS = ["mock/echo", "up-chat/gpt-x"]
RESPONSES_MODELS = ["mock/echo", "up-responses/gpt-x"]
ANTHROPIC_MODELS = ["mock/echo", "up-anthropic/claude-x"]
GEMINI_MODELS = ["mock/echo", "up-gemini/gemini-x"]


def oai(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_create_and_stream(gateway, model):
    client = oai(gateway)
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi chat"}])
    assert r.choices[0].message.content == "echo: hi chat"
    assert r.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi stream"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hi stream"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "helper"}]) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "echo: helper"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_tool_call_stream_helper(gateway, model):
    client = oai(gateway)
    tools = [{"type": "function", "function": {"name": "shell", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "mock:tool"}], tools=tools) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "shell"
    assert "mock-tool-ran" in call.function.arguments
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_responses_create_and_stream_helper(gateway, model):
    client = oai(gateway)
    r = client.responses.create(model=model, input="hi responses")
    assert r.output_text == "echo: hi responses"
    with client.responses.stream(model=model, input="hi stream") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == "echo: hi stream"
    assert final.output_text == "echo: hi stream"
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_responses_reasoning_and_tool_stream(gateway, model):
    client = oai(gateway)
    tools = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}]
    with client.responses.stream(model=model, input="mock:reasoning mock:tool", tools=tools) as s:
        final = s.get_final_response()
    kinds = [i.type for i in final.output]
    assert "reasoning" in kinds and "function_call" in kinds, kinds
    call = next(i for i in final.output if i.type == "function_call")
    assert call.name == "exec_command" and "mock-tool-ran" in call.arguments


@pytest.mark.parametrize("model", ANTHROPIC_MODELS)
def test_anthropic_create_stream_and_count(gateway, model):
    client = anthropic.Anthropic(base_url=gateway, api_key="unused", max_retries=0)
    m = client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi claude"}])
    assert m.content[0].text == "echo: hi claude"
    assert m.usage.output_tokens > 0
    with client.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi stream"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "echo: hi stream"
    assert final.stop_reason == "end_turn"
    count = client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "count these tokens please"}])
    assert count.input_tokens > 0


@pytest.mark.parametrize("model", ANTHROPIC_MODELS)
def test_anthropic_thinking_and_tool_stream(gateway, model):
    client = anthropic.Anthropic(base_url=gateway, api_key="unused", max_retries=0)
    tools = [{"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}]
    with client.messages.stream(model=model, max_tokens=2048, tools=tools, messages=[{"role": "user", "content": "mock:reasoning mock:tool"}]) as s:
        final = s.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking" and "tool_use" in kinds, kinds
    assert final.content[0].signature
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.name == "Bash" and "mock-tool-ran" in tool.input["command"]
    assert final.stop_reason == "tool_use"


@pytest.mark.parametrize("model", GEMINI_MODELS)
def test_gemini_generate_and_stream(gateway, model):
    client = genai.Client(api_key="unused", http_options=gtypes.HttpOptions(base_url=gateway))
    r = client.models.generate_content(model=model, contents="hi gemini")
    assert r.text == "echo: hi gemini"
    assert r.usage_metadata.total_token_count > 0
    text = "".join(c.text or "" for c in client.models.generate_content_stream(model=model, contents="hi stream"))
    assert text == "echo: hi stream"


def test_errors_keep_each_sdks_shape(gateway):
    with pytest.raises(openai.NotFoundError) as e:
        oai(gateway).chat.completions.create(model="nosuch/x", messages=[{"role": "user", "content": "x"}])
    assert "nosuch/x" in str(e.value)
    client = anthropic.Anthropic(base_url=gateway, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="up-anthropic/c", max_tokens=10, messages=[{"role": "user", "content": "mock:error=429"}])
    with pytest.raises(openai.APIError):
        list(oai(gateway).chat.completions.create(model="up-chat/x", messages=[{"role": "user", "content": "mock:midstream-error"}], stream=True))
