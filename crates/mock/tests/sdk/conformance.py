"""Conformance of crossbar-mock against the official SDKs (openai 3.54, anthropic 2.12,
google-genai 3.4): streams through each SDK's helpers, tool two-step turns, errors, drops.

    cargo run -p crossbar-mock --example serve -- 127.0.0.1:9911 &
    pip install openai==3.54.0 anthropic==2.12.0 google-genai==3.4.0
    python3 crates/mock/tests/sdk/conformance.py http://127.0.0.1:9911

Not part of `cargo test` (it needs Python and the SDKs). Exits 1 if a case fails.
"""
import json, sys, traceback
import openai, anthropic
from google import genai
from google.genai import types as gt

B = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9911"
oa = openai.OpenAI(base_url=B + "/v1", api_key="k", max_retries=0)
an = anthropic.Anthropic(base_url=B, api_key="k", max_retries=0)
ge = genai.Client(api_key="k", http_options=gt.HttpOptions(base_url=B))
results = []
def case(name):
    def deco(f):
        try:
            out = f()
            results.append((name, "ok", out))
        except Exception as e:
            results.append((name, "FAIL", repr(e)[:300]))
        return f
    return deco

tools_chat = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]
tools_resp = [{"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}, "strict": False}]
tools_an = [{"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}]

for words in ["hello there", "mock:tool", "mock:reasoning", "mock:reasoning mock:tool mock:parallel"]:
    @case(f"chat.stream helper [{words}]")
    def _():
        with oa.chat.completions.stream(model="m", messages=[{"role": "user", "content": words}], tools=tools_chat, stream_options={"include_usage": True}) as s:
            for _ in s: pass
            c = s.get_final_completion()
        m = c.choices[0].message
        return (m.content, [(t.function.name, t.function.arguments) for t in (m.tool_calls or [])], c.usage.total_tokens)
    @case(f"chat.create [{words}]")
    def _():
        c = oa.chat.completions.create(model="m", messages=[{"role": "user", "content": words}], tools=tools_chat)
        return (c.choices[0].message.content, c.choices[0].finish_reason)
    @case(f"responses.stream helper [{words}]")
    def _():
        with oa.responses.stream(model="m", input=words, tools=tools_resp) as s:
            for _ in s: pass
            r = s.get_final_response()
        return (r.output_text, [o.type for o in r.output], r.usage.total_tokens, r.usage.output_tokens_details.reasoning_tokens)
    @case(f"responses.create [{words}]")
    def _():
        r = oa.responses.create(model="m", input=words, tools=tools_resp)
        return (r.output_text, [o.type for o in r.output])
    @case(f"anthropic messages.stream [{words}]")
    def _():
        with an.messages.stream(model="m", max_tokens=100, messages=[{"role": "user", "content": words}], tools=tools_an) as s:
            for _ in s: pass
            m = s.get_final_message()
        return ([(b.type, getattr(b, "input", None) or getattr(b, "text", None) or getattr(b, "signature", None)) for b in m.content], m.stop_reason, m.usage.output_tokens)
    @case(f"anthropic messages.create [{words}]")
    def _():
        m = an.messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": words}], tools=tools_an)
        return ([b.type for b in m.content], m.stop_reason)
    @case(f"genai stream [{words}]")
    def _():
        cfg = gt.GenerateContentConfig(tools=[gt.Tool(function_declarations=[gt.FunctionDeclaration(name="run_shell_command", parameters_json_schema={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})])],
                                       automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True))
        parts = []
        last = None
        for ch in ge.models.generate_content_stream(model="gemini-x", contents=words, config=cfg):
            last = ch
            for p in ch.candidates[0].content.parts or []:
                parts.append((p.thought, p.text, p.function_call.name if p.function_call else None, bool(p.thought_signature)))
        return (parts[-3:], last.candidates[0].finish_reason, last.usage_metadata.total_token_count)
    @case(f"genai generate [{words}]")
    def _():
        r = ge.models.generate_content(model="gemini-x", contents=words)
        return (r.text, r.usage_metadata.total_token_count)

@case("count tokens")
def _():
    a = an.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hi"}])
    g = ge.models.count_tokens(model="gemini-x", contents="hi")
    return (a.input_tokens, g.total_tokens)

@case("models")
def _():
    return ([m.id for m in oa.models.list()], [m.id for m in an.models.list()], [m.name for m in ge.models.list()])

for proto in ["chat", "responses", "anthropic", "gemini"]:
    @case(f"error 429 [{proto}]")
    def _():
        try:
            if proto == "chat": oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "mock:error=429"}])
            elif proto == "responses": oa.responses.create(model="m", input="mock:error=429")
            elif proto == "anthropic": an.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "mock:error=429"}])
            else: ge.models.generate_content(model="g", contents="mock:error=429")
        except Exception as e:
            return type(e).__name__ + ": " + str(e)[:120]
        raise RuntimeError("no error")
    @case(f"midstream error [{proto}]")
    def _():
        try:
            if proto == "chat":
                for _ in oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b mock:midstream-error"}], stream=True): pass
            elif proto == "responses":
                with oa.responses.stream(model="m", input="a b mock:midstream-error") as s:
                    for _ in s: pass
                    s.get_final_response()
            elif proto == "anthropic":
                with an.messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "a b mock:midstream-error"}]) as s:
                    for _ in s: pass
            else:
                for _ in ge.models.generate_content_stream(model="g", contents="a b mock:midstream-error"): pass
        except Exception as e:
            return type(e).__name__ + ": " + str(e)[:120]
        raise RuntimeError("no error")

@case("chat two-step")
def _():
    msgs = [{"role": "user", "content": "run mock:tool"}]
    c = oa.chat.completions.create(model="m", messages=msgs, tools=tools_chat)
    tc = c.choices[0].message.tool_calls[0]
    msgs += [c.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": tc.id, "content": "mock-tool-ran"}]
    with oa.chat.completions.stream(model="m", messages=msgs, tools=tools_chat) as s:
        for _ in s: pass
        return s.get_final_completion().choices[0].message.content
@case("responses two-step")
def _():
    inp = [{"role": "user", "content": "run mock:tool mock:reasoning"}]
    r = oa.responses.create(model="m", input=inp, tools=tools_resp, include=["reasoning.encrypted_content"])
    inp += [o.model_dump(exclude_none=True) for o in r.output]
    fc = [o for o in r.output if o.type == "function_call"][0]
    inp.append({"type": "function_call_output", "call_id": fc.call_id, "output": "mock-tool-ran"})
    with oa.responses.stream(model="m", input=inp, tools=tools_resp) as s:
        for _ in s: pass
        return s.get_final_response().output_text
@case("anthropic two-step")
def _():
    msgs = [{"role": "user", "content": "run mock:tool mock:reasoning"}]
    m = an.messages.create(model="m", max_tokens=100, messages=msgs, tools=tools_an)
    tu = [b for b in m.content if b.type == "tool_use"][0]
    msgs += [{"role": "assistant", "content": [b.model_dump() for b in m.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tu.id, "content": "mock-tool-ran"}]}]
    with an.messages.stream(model="m", max_tokens=100, messages=msgs, tools=tools_an) as s:
        return s.get_final_text()
@case("genai two-step")
def _():
    cfg = gt.GenerateContentConfig(tools=[gt.Tool(function_declarations=[gt.FunctionDeclaration(name="run_shell_command", parameters_json_schema={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})])],
                                   automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True))
    contents = [gt.Content(role="user", parts=[gt.Part(text="run mock:tool mock:reasoning")])]
    r = ge.models.generate_content(model="gx", contents=contents, config=cfg)
    fc = r.function_calls[0]
    contents += [r.candidates[0].content, gt.Content(role="user", parts=[gt.Part(function_response=gt.FunctionResponse(id=fc.id, name=fc.name, response={"output": "mock-tool-ran"}))])]
    return "".join(ch.text or "" for ch in ge.models.generate_content_stream(model="gx", contents=contents, config=cfg))
@case("models")
def _():
    return ([m.id for m in oa.models.list()], [m.id for m in an.models.list()], [m.name for m in ge.models.list()])
for proto in ["chat", "responses", "anthropic", "gemini"]:
    @case(f"drop [{proto}]")
    def _():
        try:
            if proto == "chat":
                for _ in oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b mock:drop"}], stream=True): pass
            elif proto == "responses":
                with oa.responses.stream(model="m", input="a b mock:drop") as s:
                    for _ in s: pass
                    s.get_final_response()
            elif proto == "anthropic":
                with an.messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "a b mock:drop"}]) as s:
                    for _ in s: pass
            else:
                for _ in ge.models.generate_content_stream(model="g", contents="a b mock:drop"): pass
        except Exception as e:
            return type(e).__name__ + ": " + str(e)[:100]
        raise RuntimeError("no error")
failed = 0
for r in results:
    failed += r[1] != "ok"
    print(r[1], "|", r[0], "|", r[2])
print(f"{len(results) - failed}/{len(results)} passed")
sys.exit(1 if failed else 0)
