"""`jisu serve` under a full queue (429 in OpenAI's error shape, counted in /metrics) and SIGTERM
with requests in flight (clean exit, the running stream ends with finish_reason "abort").
A server of its own, started fresh, so that nothing of another test's server is in play."""
import sys
import time

from serve_support import Checks, Server, default_model, is_openai_error, raw_socket_request

jisu, source_dir = sys.argv[1], sys.argv[2]
checks = Checks("serve_queue_and_shutdown")


# ---- one running request and a queue of one; SIGTERM with requests in flight
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
    code = server.terminate()
    checks.check(code == 0 and time.time() - started < 15, "SIGTERM with requests in flight: clean exit",
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
checks.finish()
