"""What the mock upstream received, read back protocol-independently, so the matrix can assert
that the translation delivered the system prompt, tools, tool results, images, schemas and
reasoning state in the upstream's own terms."""
import json

MOCK_ANTHROPIC_SIGNATURE = "bW9jay1zaWduYXR1cmU="
MOCK_ENCRYPTED_REASONING = "bW9jay1lbmNyeXB0ZWQtcmVhc29uaW5n"
MOCK_THOUGHT_SIGNATURE = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ=="


def _texts(v):
    """Every string under v (for loose 'contains' checks)."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from _texts(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _texts(x)


def view(upstream, req):
    b = req["body"] if isinstance(req["body"], dict) else {}
    out = {"path": req["path"], "model": b.get("model"), "system": "", "tools": [], "tool_results": [],
           "image": False, "schema": None, "replayed_state": set()}
    if upstream == "up-chat":
        msgs = b.get("messages", [])
        out["system"] = " ".join(m["content"] if isinstance(m.get("content"), str) else " ".join(_texts(m.get("content")))
                                 for m in msgs if m.get("role") in ("system", "developer"))
        out["tools"] = [t["function"]["name"] for t in b.get("tools", []) if t.get("type") == "function"]
        out["tool_results"] = [m["content"] if isinstance(m["content"], str) else " ".join(_texts(m["content"])) for m in msgs if m.get("role") == "tool"]
        out["image"] = any(p.get("type") == "image_url" for m in msgs if isinstance(m.get("content"), list) for p in m["content"])
        rf = b.get("response_format") or {}
        out["schema"] = (rf.get("json_schema") or {}).get("schema")
    elif upstream == "up-responses":
        inp = b.get("input", [])
        inp = inp if isinstance(inp, list) else [{"role": "user", "content": inp}]
        sys_parts = [b.get("instructions") or ""] + [" ".join(_texts(i.get("content"))) for i in inp if i.get("role") in ("system", "developer")]
        out["system"] = " ".join(sys_parts)
        out["tools"] = [t.get("name") for t in b.get("tools", [])]
        out["tool_results"] = [i["output"] if isinstance(i["output"], str) else " ".join(_texts(i["output"])) for i in inp if i.get("type") == "function_call_output"]
        out["image"] = any(p.get("type") == "input_image" for i in inp if isinstance(i.get("content"), list) for p in i["content"])
        fmt = (b.get("text") or {}).get("format") or {}
        out["schema"] = fmt.get("schema")
        for i in inp:
            if i.get("type") == "reasoning" and MOCK_ENCRYPTED_REASONING in (i.get("encrypted_content") or ""):
                out["replayed_state"].add("encrypted_content")
    elif upstream == "up-anthropic":
        s = b.get("system", "")
        out["system"] = s if isinstance(s, str) else " ".join(x.get("text", "") for x in s)
        out["tools"] = [t.get("name") for t in b.get("tools", [])]
        for m in b.get("messages", []):
            if isinstance(m.get("content"), list):
                for blk in m["content"]:
                    if blk.get("type") == "tool_result":
                        c = blk.get("content")
                        out["tool_results"].append(c if isinstance(c, str) else " ".join(_texts(c)))
                    if blk.get("type") == "image":
                        out["image"] = True
                    if blk.get("type") == "thinking" and blk.get("signature") == MOCK_ANTHROPIC_SIGNATURE:
                        out["replayed_state"].add("signature")
        out["schema"] = ((b.get("output_config") or {}).get("format") or {}).get("schema")
    elif upstream == "up-gemini":
        si = b.get("systemInstruction") or b.get("system_instruction") or {}
        out["system"] = " ".join(p.get("text", "") for p in si.get("parts", []))
        out["model"] = req["path"].split("/models/", 1)[-1].rsplit(":", 1)[0]
        out["tools"] = [f.get("name") for t in b.get("tools", []) for f in t.get("functionDeclarations", [])]
        for c in b.get("contents", []):
            for p in c.get("parts", []):
                if "functionResponse" in p:
                    out["tool_results"].append(json.dumps(p["functionResponse"].get("response")))
                if "inlineData" in p:
                    out["image"] = True
                if p.get("thoughtSignature") == MOCK_THOUGHT_SIGNATURE:
                    out["replayed_state"].add("thoughtSignature")
        gc = b.get("generationConfig") or {}
        out["schema"] = gc.get("responseJsonSchema") or gc.get("responseSchema")
    return out
