"""The OpenAI surface of `jisu serve` through OpenAI's own client (scripts/install_test_deps.sh
installs it and `jsonschema`, the independent judge of structured outputs).

The model is the bundled demo (it knows only Shakespeare, so every JSON it writes comes from
the grammar), served with Qwen 2.5's tool-capable chat template (--chat-template-file)."""
import concurrent.futures
import json
import os
import sys

import jsonschema
import openai

sys.path.insert(0, os.path.dirname(__file__))
from serve_support import Checks, Server, default_model  # noqa: E402

jisu, source_dir = sys.argv[1], sys.argv[2]
template = os.path.join(source_dir, "..", "shared", "fixtures", "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")
if not os.path.exists(template):
    template = os.path.join(os.environ.get("JISU_SHARED_DIR", "/work/shared"), "fixtures", "chat-templates",
                            "Qwen-Qwen2.5-7B-Instruct.jinja")
checks = Checks("serve_openai_surface")
server = Server(jisu, default_model(source_dir), "--chat-template-file", template, "--alias", "demo",
                "--alias", "shakespeare-mini", "--max-n", "4", "--max-seqs", "8", "-c", "2048")
client = openai.OpenAI(base_url=f"http://{server.host}:{server.port}/v1", api_key="unused", max_retries=0)

# ---- json_schema: OUTPUTS sampled outputs at temperature 1 over varied schemas, all valid ----
SCHEMAS = [
    {"type": "object", "additionalProperties": False,
     "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 12}, "age": {"type": "integer"},
                    "alive": {"type": "boolean"}}, "required": ["name", "age"]},
    {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 4},
    {"type": "object", "properties": {"role": {"enum": ["king", "queen", "fool", None]},
                                      "lines": {"type": "array", "items": {"type": "string", "maxLength": 8},
                                                "maxItems": 3}}, "required": ["role", "lines"]},
    {"$defs": {"point": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                         "required": ["x", "y"], "additionalProperties": False}},
     "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"},
                                      "label": {"anyOf": [{"type": "string", "maxLength": 6}, {"type": "null"}]}},
     "required": ["from", "to"]},
    {"type": "array", "maxItems": 3, "items": {"type": "object", "additionalProperties": False, "required": ["ok"],
                                               "properties": {"ok": {"type": "boolean"}, "n": {"type": "null"}}}},
]
OUTPUTS = 200
N = 4
REQUESTS_PER_SCHEMA = OUTPUTS // (N * len(SCHEMAS))


def structured(schema_index, seed, truncated):
    schema = SCHEMAS[schema_index]
    # Half the requests sample as llama.cpp does (top-k, min-p): the grammar is then asked token
    # by token (Sampler::sample_filtered), the other half draw first (OpenAI's defaults).
    response = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "Describe a character as JSON."}],
        temperature=1.0, max_tokens=160, n=N, seed=seed,
        extra_body={"top_k": 40, "min_p": 0.05} if truncated else None,
        response_format={"type": "json_schema", "json_schema": {"name": f"s{schema_index}", "schema": schema,
                                                                "strict": True}})
    results = []
    for choice in response.choices:
        try:
            document = json.loads(choice.message.content)
            jsonschema.validate(document, schema)
            results.append((True, choice.finish_reason, choice.message.content))
        except (json.JSONDecodeError, jsonschema.ValidationError) as failure:
            results.append((False, choice.finish_reason, f"{choice.message.content!r}: {failure}"))
    return results


jobs = [(i, 1000 * i + N * k, k % 2 == 1) for i in range(len(SCHEMAS)) for k in range(REQUESTS_PER_SCHEMA)]
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    outcomes = [result for batch in pool.map(lambda job: structured(*job), jobs) for result in batch]
invalid = [detail for ok, reason, detail in outcomes if not ok or reason != "stop"]
checks.check(len(outcomes) == OUTPUTS and not invalid,
             f"json_schema: {len(outcomes) - len(invalid)} of {len(outcomes)} sampled outputs valid per jsonschema",
             invalid[:3])

response = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "JSON please"}],
                                          temperature=1.0, max_tokens=400, seed=7,
                                          response_format={"type": "json_object"})
content = response.choices[0].message.content
if response.choices[0].finish_reason == "stop":
    checks.check(isinstance(json.loads(content), dict), "json_object: a JSON object", content)
else:
    checks.check(content.startswith("{"), "json_object (cut by max_tokens): starts as an object", content)

completion = client.completions.create(model="demo", prompt="ROMEO:", max_tokens=10, temperature=1.0,
                                       extra_body={"grammar": 'root ::= ("yes" | "no" | "maybe") "."'})
checks.check(completion.choices[0].text in ("yes.", "no.", "maybe."), "GBNF grammar field",
             completion.choices[0].text)

# ---- tools: required call -> tool message -> answer ---------------------------------------------
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                                    "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}},
         {"type": "function", "function": {
             "name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                                            "b": {"type": "integer"}},
                                           "required": ["a", "b"]}}}]
messages = [{"role": "user", "content": "What is the weather in Verona?"}]
response = client.chat.completions.create(model="demo", messages=messages, tools=TOOLS, tool_choice="required",
                                          temperature=1.0, max_tokens=250, seed=3)
choice = response.choices[0]
calls = choice.message.tool_calls or []
checks.check(choice.finish_reason == "tool_calls" and len(calls) == 1 and calls[0].type == "function"
             and calls[0].function.name in ("get_weather", "add") and calls[0].id,
             "tool_choice required: one tool call", choice)
if calls:
    call = calls[0]
    arguments = json.loads(call.function.arguments)
    schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call.function.name)
    jsonschema.validate(arguments, schema)
    checks.check(True, f"tool call arguments valid per the tool's schema: {call.function.name}({arguments})")
    messages += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": call.id, "type": "function",
                      "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18})}]
    answer = client.chat.completions.create(model="demo", messages=messages, tools=TOOLS, tool_choice="none",
                                            temperature=0.0, max_tokens=12)
    checks.check(answer.choices[0].message.content and not answer.choices[0].message.tool_calls
                 and answer.usage.prompt_tokens > response.usage.prompt_tokens,
                 "round trip: the tool result goes through the template and an answer comes back",
                 answer.choices[0])

named = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "2 + 3?"}], tools=TOOLS,
                                       tool_choice={"type": "function", "function": {"name": "add"}},
                                       temperature=1.0, max_tokens=250, seed=5)
named_calls = named.choices[0].message.tool_calls or []
checks.check(len(named_calls) == 1 and named_calls[0].function.name == "add"
             and set(json.loads(named_calls[0].function.arguments)) == {"a", "b"}, "named tool_choice", named.choices[0])

stream = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS,
                                        tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                        temperature=1.0, max_tokens=250, seed=9, stream=True)
name, arguments, reason = None, "", None
for chunk in stream:
    if not chunk.choices:
        continue
    delta = chunk.choices[0].delta
    for tool_call in delta.tool_calls or []:
        if tool_call.function and tool_call.function.name:
            name = tool_call.function.name
        if tool_call.function and tool_call.function.arguments:
            arguments += tool_call.function.arguments
    reason = chunk.choices[0].finish_reason or reason
try:
    jsonschema.validate(json.loads(arguments), TOOLS[0]["function"]["parameters"])
    streamed_ok = True
except (json.JSONDecodeError, jsonschema.ValidationError):
    streamed_ok = False
checks.check(name == "get_weather" and streamed_ok and reason == "tool_calls",
             "streamed tool call: name, then argument pieces that join to valid JSON", (name, arguments, reason))

# ---- n, logit_bias, include_usage, echo, aliases ---------------------------------------------
response = client.completions.create(model="shakespeare-mini", prompt="JULIET:", max_tokens=8, n=3, temperature=1.0,
                                     seed=11)
checks.check(sorted(c.index for c in response.choices) == [0, 1, 2] and response.model == "shakespeare-mini"
             and response.usage.completion_tokens == sum(1 for _ in range(3)) * 8
             and response.usage.prompt_tokens < 8, "n = 3: three choices, prompt counted once", response.usage)
shared = client.completions.create(model="demo", prompt="ROMEO: " + "O Juliet, my love, " * 12, max_tokens=3, n=4)
checks.check(len(shared.choices) == 4 and shared.usage.prompt_tokens_details.cached_tokens >= 64,
             "n = 4 over a 112-token prompt: the other choices reuse its KV blocks", shared.usage)
try:
    client.completions.create(model="demo", prompt="x", max_tokens=2, n=5)
    checks.check(False, "n above --max-n -> 400")
except openai.BadRequestError as error:
    checks.check("max-n" in str(error), "n above --max-n -> 400", error)

base = client.completions.create(model="demo", prompt="ROMEO:", max_tokens=6, temperature=0)
forced = client.completions.create(model="demo", prompt="ROMEO:", max_tokens=6, temperature=0,
                                   logit_bias={"68": 100})  # byte token <0x41>: "A"
checks.check(forced.choices[0].text == "AAAAAA", "logit_bias +100 forces a token", forced.choices[0].text)
banned = client.completions.create(model="demo", prompt="ROMEO:", max_tokens=6, temperature=0, logprobs=1,
                                   logit_bias={str(i): -100 for i in range(3, 1024)})
checks.check(banned.choices[0].finish_reason in ("stop", "length") and base.choices[0].text != banned.choices[0].text,
             "logit_bias -100 bans tokens", (base.choices[0].text, banned.choices[0].text))
for bias, what in (({"99999": 1}, "an unknown token id"), ({"abc": 1}, "a key that is no token id"),
                   ({"5": "x"}, "a bias that is no number"), ({"5": 500}, "a bias above 100")):
    try:
        client.completions.create(model="demo", prompt="x", max_tokens=2, logit_bias=bias)
        checks.check(False, f"logit_bias with {what} -> 400")
    except openai.BadRequestError as error:
        checks.check("logit_bias" in str(error), f"logit_bias with {what} -> 400", error)

chunks = list(client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "Hi"}], max_tokens=5,
                                             stream=True, stream_options={"include_usage": True}, n=2))
checks.check(chunks[-1].usage is not None and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
             and {c.choices[0].index for c in chunks[:-1] if c.choices} == {0, 1},
             "stream_options.include_usage: a final usage chunk (n = 2 streams two indexed choices)", chunks[-1])

echoed = client.completions.create(model="demo", prompt="KING:", max_tokens=4, echo=True, temperature=0)
checks.check(echoed.choices[0].text.startswith("KING:") and len(echoed.choices[0].text) > 5, "echo", echoed.choices[0].text)

names = {model.id for model in client.models.list()}
checks.check({"demo", "shakespeare-mini"} <= names and len(names) == 3, "/v1/models lists the aliases", names)
try:
    client.completions.create(model="gpt-17", prompt="x", max_tokens=2)
    checks.check(False, "an unknown model -> 400")
except openai.BadRequestError:
    checks.check(True, "an unknown model -> 400")

# ---- bad input ---------------------------------------------------------------------------------
bad = [
    ("a schema keyword it cannot enforce", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "string", "pattern": "^a"}}}}, "pattern"),
    ("an invalid grammar", {"extra_body": {"grammar": "root ::= missing"}}, "never defined"),
    ("a left-recursive grammar", {"extra_body": {"grammar": "root ::= root \"a\" | \"b\""}}, "left-recursive"),
    ("tools that are not JSON Schema", {"tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "thing"}}}]}, "unknown type"),
    ("tool_choice naming an unknown tool", {"tools": TOOLS, "tool_choice": {"type": "function",
                                                                           "function": {"name": "nope"}}}, "nope"),
]
for what, arguments, expected in bad:
    try:
        client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "x"}], max_tokens=2,
                                       **arguments)
        checks.check(False, f"{what} -> 400")
    except openai.BadRequestError as error:
        checks.check(expected in str(error), f"{what} -> 400", error)

server.terminate()
checks.finish()
