"""`jisu serve` under a full queue (429 in OpenAI's error shape, counted in /metrics); SIGINT
with requests in flight (clean exit, the running stream ends with finish_reason "abort"); SIGTERM
drains (/health and new requests 503, running and queued requests finish, then a clean exit).
A server of its own, started fresh, so that nothing of another test's server is in play."""
import signal
import sys
import threading
import time

from serve_support import Checks, Server, default_model, is_openai_error, raw_socket_request

jisu, source_dir = sys.argv[1], sys.argv[2]
checks = Checks("serve_queue_and_shutdown")


# ---- one running request and a queue of one; SIGINT with requests in flight
server = Server(jisu, default_model(source_dir), "--max-seqs", "1", "--max-queue", "1", "-c", "8192")
try:
    long = {"prompt": "ROMEO:", "max_tokens": 100000, "temperature": 0, "stream": True}
    running = raw_socket_request(server, long)
    # The response headers can arrive before the engine has taken the request out of its
    # incoming queue (where it still counts against --max-queue): wait for generated text and
    # for the engine to report it running before queueing the second request.
    first = b""
    while b"data:" not in first:
        piece = running.recv(4096)
        if not piece:
            break
        first += piece
    server.wait_for_metric("jisu_running_requests", lambda v: v == 1)
    queued = raw_socket_request(server, long)
    server.wait_for_metric("jisu_queue_length", lambda v: v == 1)
    status, body = server.post("/v1/completions", {"prompt": "x", "max_tokens": 2})
    checks.check(status == 429 and is_openai_error(body) and body["error"]["code"] == "queue_full",
                 "queue full -> 429", (status, body))
    checks.check(server.metrics()["jisu_requests_total{outcome=\"rejected\"}"] == 1, "rejection counted")
    started = time.time()
    code = server.terminate(signal_number=signal.SIGINT)
    checks.check(code == 0 and time.time() - started < 15, "SIGINT with requests in flight: clean exit",
                 (code, server.stderr_lines[-5:]))
    running.settimeout(5)
    tail = b""
    try:
        while chunk := running.recv(65536):
            tail += chunk
    except OSError:
        pass
    checks.check(b'"finish_reason":"abort"' in tail and b"[DONE]" in tail, "running stream ended with abort",
                 tail[-300:])
    running.close()
    queued.close()
finally:
    server.kill()

# ---- SIGTERM drains: the running and the queued request finish; new work is turned away
server = Server(jisu, default_model(source_dir), "--max-seqs", "1", "--max-queue", "4", "-c", "4096")
try:
    results = {}

    def complete(name):
        results[name] = server.post("/v1/completions", {"prompt": "ROMEO:", "max_tokens": 1500, "temperature": 0})

    clients = [threading.Thread(target=complete, args=(name,)) for name in ("running", "queued")]
    for client in clients:
        client.start()
    server.wait_for_metric("jisu_running_requests", lambda v: v == 1)
    server.wait_for_metric("jisu_queue_length", lambda v: v == 1)
    server.process.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    health = None
    while time.time() < deadline:
        try:
            health = server.request("GET", "/health")
        except OSError:
            break
        if health[0] == 503:
            break
        time.sleep(0.02)
    checks.check(health is not None and health[0] == 503 and health[1].get("status") == "draining",
                 "draining: /health answers 503", health)
    try:
        refused = server.post("/v1/completions", {"prompt": "x", "max_tokens": 2})
        checks.check(refused[0] == 503 and is_openai_error(refused[1]), "draining: new request -> 503", refused)
    except OSError as error:  # the drain may already be over: the listener is then closed
        checks.check(server.process.poll() is not None, "draining: refused only once stopped", error)
    for client in clients:
        client.join(timeout=60)
    for name in ("running", "queued"):
        status, body = results.get(name, (None, None))
        checks.check(status == 200 and body["choices"][0]["finish_reason"] == "length" and
                     body["usage"]["completion_tokens"] == 1500, f"draining: the {name} request finished", body)
    checks.check(server.process.wait(timeout=20) == 0, "drained server exits 0", server.stderr_lines[-3:])
finally:
    server.kill()
checks.finish()
