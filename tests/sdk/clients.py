"""One small driver per official SDK, so the matrix test can ask every client protocol the
same questions. Each driver returns plain Python values; the SDKs' own parsers and stream
helpers do all the protocol checking."""
import base64
import json

import anthropic
import openai
from google import genai
from google.genai import types as gtypes

SHELL_TOOL_SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string", "description": "the command line"}},
    "required": ["command"],
}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()
SYSTEM = "You are the crossbar matrix test."


class Chat:
    name = "chat"

    def __init__(self, gw):
        self.c = openai.OpenAI(base_url=gw + "/v1", api_key="unused", max_retries=0)

    def text(self, model, prompt, stream):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        if not stream:
            return self.c.chat.completions.create(model=model, messages=msgs).choices[0].message.content
        with self.c.chat.completions.stream(model=model, messages=msgs) as s:
            return s.get_final_completion().choices[0].message.content

    def tools(self):
        return [{"type": "function", "function": {"name": "shell", "description": "run a command", "parameters": SHELL_TOOL_SCHEMA}}]

    def turn1(self, model, prompt):
        """Stream a turn that ends in a tool call; return (history, call_id, name, args, reasoning)."""
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        with self.c.chat.completions.stream(model=model, messages=msgs, tools=self.tools()) as s:
            final = s.get_final_completion()
        m = final.choices[0].message
        call = m.tool_calls[0]
        assistant = {"role": "assistant", "content": m.content, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in m.tool_calls]}
        reasoning = getattr(m, "reasoning_content", None) or (m.model_extra or {}).get("reasoning_content")
        return msgs + [assistant], call.id, call.function.name, json.loads(call.function.arguments), reasoning, final.choices[0].finish_reason

    def turn2(self, model, history, call_id, output, stream=True):
        msgs = history + [{"role": "tool", "tool_call_id": call_id, "content": output}]
        if stream:
            with self.c.chat.completions.stream(model=model, messages=msgs, tools=self.tools()) as s:
                return s.get_final_completion().choices[0].message.content
        return self.c.chat.completions.create(model=model, messages=msgs, tools=self.tools()).choices[0].message.content

    def image(self, model):
        content = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
        return self.c.chat.completions.create(model=model, messages=[{"role": "user", "content": content}]).choices[0].message.content

    def structured(self, model):
        r = self.c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "a city"}],
            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}})
        return json.loads(r.choices[0].message.content)

    def error_before(self, model):
        self.c.chat.completions.create(model=model, messages=[{"role": "user", "content": "mock:error=429"}])

    def error_during(self, model):
        list(self.c.chat.completions.create(model=model, messages=[{"role": "user", "content": "mock:midstream-error"}], stream=True))


class Responses:
    name = "responses"

    def __init__(self, gw):
        self.c = openai.OpenAI(base_url=gw + "/v1", api_key="unused", max_retries=0)

    def text(self, model, prompt, stream):
        if not stream:
            return self.c.responses.create(model=model, instructions=SYSTEM, input=prompt).output_text
        with self.c.responses.stream(model=model, instructions=SYSTEM, input=prompt) as s:
            return s.get_final_response().output_text

    def tools(self):
        return [{"type": "function", "name": "shell", "description": "run a command", "parameters": SHELL_TOOL_SCHEMA, "strict": False}]

    def turn1(self, model, prompt):
        inp = [{"role": "user", "content": prompt}]
        with self.c.responses.stream(model=model, instructions=SYSTEM, input=inp, tools=self.tools(),
                                     reasoning={"effort": "medium", "summary": "auto"}, include=["reasoning.encrypted_content"], store=False) as s:
            final = s.get_final_response()
        items = [i.model_dump(exclude_none=True) for i in final.output]
        call = next(i for i in final.output if i.type == "function_call")
        reasoning = next((i for i in final.output if i.type == "reasoning"), None)
        rtext = None
        if reasoning is not None:
            rtext = " ".join(s.text for s in reasoning.summary) or "(reasoning)"
            assert reasoning.encrypted_content, "a reasoning item must carry encrypted_content"
        return inp + items, call.call_id, call.name, json.loads(call.arguments), rtext, final.status

    def turn2(self, model, history, call_id, output, stream=True):
        inp = history + [{"type": "function_call_output", "call_id": call_id, "output": output}]
        kw = dict(model=model, instructions=SYSTEM, input=inp, tools=self.tools(), store=False,
                  reasoning={"effort": "medium", "summary": "auto"}, include=["reasoning.encrypted_content"])
        if stream:
            with self.c.responses.stream(**kw) as s:
                return s.get_final_response().output_text
        return self.c.responses.create(**kw).output_text

    def image(self, model):
        inp = [{"role": "user", "content": [{"type": "input_text", "text": "describe"},
                                             {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}]}]
        return self.c.responses.create(model=model, input=inp).output_text

    def structured(self, model):
        r = self.c.responses.create(model=model, input="a city",
                                    text={"format": {"type": "json_schema", "name": "city", "schema": SCHEMA, "strict": True}})
        return json.loads(r.output_text)

    def error_before(self, model):
        self.c.responses.create(model=model, input="mock:error=429")

    def error_during(self, model):
        with self.c.responses.stream(model=model, input="mock:midstream-error") as s:
            s.get_final_response()


class Anthropic:
    name = "anthropic"

    def __init__(self, gw):
        self.c = anthropic.Anthropic(base_url=gw, api_key="unused", max_retries=0)

    def text(self, model, prompt, stream):
        kw = dict(model=model, max_tokens=512, system=SYSTEM, messages=[{"role": "user", "content": prompt}])
        if not stream:
            return "".join(b.text for b in self.c.messages.create(**kw).content if b.type == "text")
        with self.c.messages.stream(**kw) as s:
            return "".join(b.text for b in s.get_final_message().content if b.type == "text")

    def tools(self):
        return [{"name": "shell", "description": "run a command", "input_schema": SHELL_TOOL_SCHEMA}]

    def turn1(self, model, prompt):
        msgs = [{"role": "user", "content": prompt}]
        with self.c.messages.stream(model=model, max_tokens=4096, system=SYSTEM, messages=msgs, tools=self.tools(),
                                    thinking={"type": "enabled", "budget_tokens": 2048}) as s:
            final = s.get_final_message()
        call = next(b for b in final.content if b.type == "tool_use")
        thinking = next((b for b in final.content if b.type == "thinking"), None)
        rtext = None
        if thinking is not None:
            assert thinking.signature, "every thinking block needs a signature"
            rtext = thinking.thinking
        history = msgs + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]}]
        return history, call.id, call.name, call.input, rtext, final.stop_reason

    def turn2(self, model, history, call_id, output, stream=True):
        msgs = history + [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}]}]
        kw = dict(model=model, max_tokens=4096, system=SYSTEM, messages=msgs, tools=self.tools(),
                  thinking={"type": "enabled", "budget_tokens": 2048})
        if stream:
            with self.c.messages.stream(**kw) as s:
                return "".join(b.text for b in s.get_final_message().content if b.type == "text")
        return "".join(b.text for b in self.c.messages.create(**kw).content if b.type == "text")

    def image(self, model):
        content = [{"type": "text", "text": "describe"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]
        return "".join(b.text for b in self.c.messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": content}]).content if b.type == "text")

    def structured(self, model):
        r = self.c.messages.create(model=model, max_tokens=200, messages=[{"role": "user", "content": "a city"}],
                                   extra_body={"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}})
        return json.loads("".join(b.text for b in r.content if b.type == "text"))

    def error_before(self, model):
        self.c.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "mock:error=429"}])

    def error_during(self, model):
        with self.c.messages.stream(model=model, max_tokens=10, messages=[{"role": "user", "content": "mock:midstream-error"}]) as s:
            s.get_final_message()


class Gemini:
    name = "gemini"

    def __init__(self, gw):
        self.c = genai.Client(api_key="unused", http_options=gtypes.HttpOptions(base_url=gw))

    def text(self, model, prompt, stream):
        cfg = gtypes.GenerateContentConfig(system_instruction=SYSTEM)
        if not stream:
            return self.c.models.generate_content(model=model, contents=prompt, config=cfg).text
        return "".join(ch.text or "" for ch in self.c.models.generate_content_stream(model=model, contents=prompt, config=cfg))

    def tools(self):
        return [gtypes.Tool(function_declarations=[gtypes.FunctionDeclaration(name="shell", description="run a command", parameters_json_schema=SHELL_TOOL_SCHEMA)])]

    def cfg(self):
        return gtypes.GenerateContentConfig(system_instruction=SYSTEM, tools=self.tools(),
                                            thinking_config=gtypes.ThinkingConfig(include_thoughts=True, thinking_budget=2048),
                                            automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True))

    def turn1(self, model, prompt):
        contents = [gtypes.Content(role="user", parts=[gtypes.Part(text=prompt)])]
        parts, finish = [], None
        for ch in self.c.models.generate_content_stream(model=model, contents=contents, config=self.cfg()):
            if ch.candidates and ch.candidates[0].content and ch.candidates[0].content.parts:
                parts += ch.candidates[0].content.parts
            if ch.candidates and ch.candidates[0].finish_reason:
                finish = ch.candidates[0].finish_reason
        call_part = next(p for p in parts if p.function_call)
        rtext = " ".join(p.text for p in parts if p.thought and p.text) or None
        history = contents + [gtypes.Content(role="model", parts=parts)]
        fc = call_part.function_call
        return history, fc.id, fc.name, dict(fc.args or {}), rtext, finish

    def turn2(self, model, history, call_id, output, stream=True):
        name = next(p.function_call.name for p in history[-1].parts if p.function_call)
        resp = gtypes.Part(function_response=gtypes.FunctionResponse(id=call_id, name=name, response={"output": output}))
        contents = history + [gtypes.Content(role="user", parts=[resp])]
        if stream:
            return "".join(ch.text or "" for ch in self.c.models.generate_content_stream(model=model, contents=contents, config=self.cfg()))
        return self.c.models.generate_content(model=model, contents=contents, config=self.cfg()).text

    def image(self, model):
        parts = [gtypes.Part(text="describe"), gtypes.Part(inline_data=gtypes.Blob(mime_type="image/png", data=base64.b64decode(PNG)))]
        return self.c.models.generate_content(model=model, contents=[gtypes.Content(role="user", parts=parts)]).text

    def structured(self, model):
        r = self.c.models.generate_content(model=model, contents="a city",
                                           config=gtypes.GenerateContentConfig(response_mime_type="application/json", response_json_schema=SCHEMA))
        return json.loads(r.text)

    def error_before(self, model):
        self.c.models.generate_content(model=model, contents="mock:error=429")

    def error_during(self, model):
        list(self.c.models.generate_content_stream(model=model, contents="mock:midstream-error"))


CLIENTS = [Chat, Responses, Anthropic, Gemini]
