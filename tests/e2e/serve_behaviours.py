"""`jisu serve` behaviours: routes, chat (also through the `openai` package when installed),
bad requests (400 in OpenAI's error shape), the API key (401), a full queue (429), client
disconnects (the request is cancelled and its KV blocks freed) and SIGTERM (clean exit)."""
import json
import sys
import time

from serve_support import Checks, Server, default_model, is_openai_error, raw_socket_request, stream_text

jisu, source_dir = sys.argv[1], sys.argv[2]
checks = Checks("serve_behaviours")
KEY = "sk-test-123"
AUTH = {"Authorization": f"Bearer {KEY}"}


def check_disconnect(server, stream):
    what = "streamed" if stream else "whole"
    before = server.metrics()["jisu_requests_total{outcome=\"cancelled\"}"]
    sock = raw_socket_request(server, {"prompt": "ROMEO:", "max_tokens": 100000, "temperature": 0, "stream": stream}, KEY)
    if stream:
        first = sock.recv(4096)
        checks.check(b"200 OK" in first, f"{what} request started before disconnecting", first[:100])
    else:
        server.wait_for_metric("jisu_running_requests", lambda v: v == 1)
    sock.close()
    server.wait_for_metric("jisu_requests_total{outcome=\"cancelled\"}", lambda v: v == before + 1)
    used = server.wait_for_metric("jisu_kv_blocks_used", lambda v: v == 0)
    checks.check(used == 0, f"{what} request cancelled on disconnect and its KV blocks freed")


# ---- server 1: API key, routes, chat, bad requests, disconnects
server = Server(jisu, default_model(source_dir), "--api-key", KEY, "-c", "8192", "--max-seqs", "4")
try:
    status, body = server.request("GET", "/health")
    checks.check(status == 200 and body.get("status") == "ok", "/health without a key", body)
    status, body = server.request("GET", "/v1/models", headers=AUTH)
    model_id = body["data"][0]["id"] if status == 200 else None
    checks.check(status == 200 and model_id == "demo-shakespeare.q8_0", "/v1/models lists the model", body)

    # Authentication.
    prompt = {"prompt": "ROMEO:", "max_tokens": 4, "temperature": 0}
    status, body = server.post("/v1/completions", prompt)
    checks.check(status == 401 and is_openai_error(body), "no API key -> 401", (status, body))
    status, body = server.post("/v1/completions", prompt, {"Authorization": "Bearer wrong"})
    checks.check(status == 401 and is_openai_error(body), "wrong API key -> 401", (status, body))
    status, body = server.post("/v1/completions", {**prompt, "model": model_id}, AUTH)
    checks.check(status == 200 and body["choices"][0]["text"] and body["usage"]["completion_tokens"] == 4,
                 "right API key -> completion", body)

    # Bad requests: 400 with OpenAI's error object, naming the parameter where there is one.
    bad = [
        ("malformed JSON", '{"prompt": "x", ', None),
        ("not an object", '[1, 2]', None),
        ("missing prompt", json.dumps({"max_tokens": 3}), "prompt"),
        ("temperature of the wrong type", json.dumps({"prompt": "x", "temperature": "hot"}), "temperature"),
        ("max_tokens of the wrong type", json.dumps({"prompt": "x", "max_tokens": 2.5}), "max_tokens"),
        ("negative max_tokens", json.dumps({"prompt": "x", "max_tokens": -3}), "max_tokens"),
        ("top_p out of range", json.dumps({"prompt": "x", "top_p": 1.5}), "top_p"),
        ("stop of the wrong type", json.dumps({"prompt": "x", "stop": 5}), "stop"),
        ("n above --max-n (8)", json.dumps({"prompt": "x", "n": 9}), "n"),
        ("unknown model", json.dumps({"prompt": "x", "model": "gpt-17"}), "model"),
        ("token id outside the vocabulary", json.dumps({"prompt": [1, 99999999]}), None),
        ("prompt longer than the context", json.dumps({"prompt": [1] * 8300}), "prompt"),
    ]
    for what, raw, param in bad:
        status, body = server.request("POST", "/v1/completions", raw=raw, headers=AUTH)
        checks.check(status == 400 and is_openai_error(body, param), f"{what} -> 400", (status, body))
    status, body = server.request("POST", "/v1/chat/completions", raw=json.dumps({"messages": "hi"}), headers=AUTH)
    checks.check(status == 400 and is_openai_error(body, "messages"), "chat messages not a list -> 400", body)
    status, body = server.request("POST", "/v1/nothing", raw="{}", headers=AUTH)
    checks.check(status == 404 and is_openai_error(body), "unknown route -> 404", (status, body))
    status, body = server.request("GET", "/health")
    checks.check(status == 200, "server alive after bad requests")

    # Stop strings, seeds, logprobs.
    status, body = server.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0}, AUTH)
    text = body["choices"][0]["text"]
    stop = text[5:8]
    status, body = server.post("/v1/completions",
                               {"prompt": "ROMEO:", "max_tokens": 40, "temperature": 0, "stop": [stop]}, AUTH)
    checks.check(status == 200 and body["choices"][0]["text"] == text[:text.index(stop)]
                 and body["choices"][0]["finish_reason"] == "stop", "stop string ends the text", body)
    seeded = {"prompt": "JULIET:", "max_tokens": 16, "temperature": 0.9, "top_k": 20, "seed": 42}
    first, second = (server.post("/v1/completions", seeded, AUTH)[1] for _ in range(2))
    checks.check(first["choices"][0]["text"] == second["choices"][0]["text"], "same seed, same text")
    status, body = server.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 5, "temperature": 0,
                                                   "logprobs": 3}, AUTH)
    logprobs = body["choices"][0]["logprobs"] if status == 200 else None
    checks.check(logprobs and len(logprobs["token_logprobs"]) == 5 and len(logprobs["top_logprobs"][0]) == 3
                 and "".join(logprobs["tokens"]) == body["choices"][0]["text"]
                 and all(lp <= 0 for lp in logprobs["token_logprobs"]), "completion logprobs", body)

    # Chat, whole and streamed: the same greedy text.
    chat = {"messages": [{"role": "system", "content": "You are Hamlet."}, {"role": "user", "content": "Speak."}],
            "max_tokens": 20, "temperature": 0}
    status, whole = server.post("/v1/chat/completions", chat, AUTH)
    checks.check(status == 200 and whole["object"] == "chat.completion"
                 and whole["choices"][0]["message"]["role"] == "assistant", "chat completion", whole)
    status, events, done = server.stream("/v1/chat/completions", {**chat, "stream_options": {"include_usage": True}},
                                         AUTH)
    checks.check(status == 200 and done and events[0]["choices"][0]["delta"].get("role") == "assistant",
                 "chat stream starts with the role and ends with [DONE]", events[:1])
    checks.check(stream_text(events, chat=True) == whole["choices"][0]["message"]["content"],
                 "chat stream text equals the whole chat completion")
    checks.check(events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 20,
                 "include_usage adds a usage chunk", events[-1])
    try:
        import openai  # noqa: F401
    except ImportError:
        print("skip: the openai package is not installed")
    else:
        client = openai.OpenAI(base_url=f"http://{server.host}:{server.port}/v1", api_key=KEY)
        pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=model_id, stream=True, **chat) if c.choices]
        checks.check("".join(pieces) == whole["choices"][0]["message"]["content"], "openai client chat stream")

    # Disconnects cancel the request and free its KV blocks.
    check_disconnect(server, stream=True)
    check_disconnect(server, stream=False)
    checks.check(server.terminate() == 0, "SIGTERM while idle: exit status 0")
finally:
    server.kill()

checks.finish()
