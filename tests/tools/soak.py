#!/usr/bin/env python3
"""Soak `jisu serve`: N concurrent clients send a mix of streamed, non-streamed, cancelled
mid-stream, malformed and oversized requests for --minutes while the server's RSS is sampled.

Every request has one expected outcome (a status, or a stream ending in [DONE]); anything else
is an unexpected error, and so is any exception on the client side (a reset, a time-out). The
run passes when there were no unexpected errors, the server is alive and answers /health at the
end, exits 0 on SIGTERM, and its RSS at the end is within --rss-slack of its value after warm-up.

  python3 tests/tools/soak.py --jisu build/jisu --model models/demo-shakespeare.q8_0.gguf --minutes 5
Prints one JSON line of results; exit status 0 when the run passed."""
import argparse
import collections
import http.client
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

MAX_BODY = 1 << 20  # the server's --max-body in this run
KEEP_ALIVE_SECONDS = 5  # the server's --keep-alive in this run


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Soak:
    def __init__(self, args):
        self.args = args
        self.counts = collections.Counter()      # outcome name -> requests
        self.unexpected = collections.Counter()  # description -> times
        self.examples = {}
        self.lock = threading.Lock()
        self.stop_at = 0.0
        self.local = threading.local()

    # ---- server
    def start_server(self):
        command = [self.args.jisu, "serve", "-m", self.args.model, "--port", "0", "-t", str(self.args.threads),
                   "--max-seqs", "8", "--max-queue", "64", "--max-body", str(MAX_BODY), "--keep-alive", str(KEEP_ALIVE_SECONDS), "-c", "512"]
        self.server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.server.stdout.readline()
        match = re.search(r"listening on http://([^:]+):(\d+)", line)
        if not match:
            self.server.kill()
            raise SystemExit(f"server did not start: {line!r} {self.server.stderr.read()}")
        self.host, self.port = match.group(1), int(match.group(2))
        threading.Thread(target=lambda: self.server.stderr.read(), daemon=True).start()

    # ---- bookkeeping
    def record(self, outcome):
        with self.lock:
            self.counts[outcome] += 1

    def fail(self, kind, detail):
        key = f"{kind}: {detail}"[:160]
        with self.lock:
            self.unexpected[key] += 1
            self.examples.setdefault(key, time.strftime("%H:%M:%S"))

    # ---- one client
    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, connection, path, body, expected, kind, headers=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        connection.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        text = response.read()
        if response.status != expected:
            self.fail(kind, f"status {response.status} (expected {expected}): {text[:80]!r}")
            return None
        self.record(kind)
        return text

    def streamed(self, connection, chat, cancel):
        kind = "cancelled" if cancel else ("stream_chat" if chat else "stream_completion")
        body = {"max_tokens": random.randint(4, 24), "stream": True, "temperature": 0.8}
        if chat:
            body["messages"] = [{"role": "user", "content": random.choice(["Hello", "</s> tell me", "ROMEO:"])}]
        else:
            body["prompt"] = random.choice(["ROMEO:", "To be, or not", "JULIET: O"])
        path = "/v1/chat/completions" if chat else "/v1/completions"
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            self.fail(kind, f"status {response.status}: {response.read()[:80]!r}")
            return
        if cancel:
            response.fp.readline()  # the first event line, then hang up mid-stream
            connection.close()
            self.record(kind)
            return
        text = response.read()
        if not text.rstrip().endswith(b"data: [DONE]"):
            self.fail(kind, f"stream did not end with [DONE]: {text[-80:]!r}")
            return
        self.record(kind)

    def one_request(self, connection):
        choice = random.random()
        self.local.kind = f"request drawn {choice:.2f}"
        if choice < 0.25:
            self.streamed(connection, chat=random.random() < 0.5, cancel=False)
        elif choice < 0.35:
            self.streamed(self.connection(), chat=random.random() < 0.5, cancel=True)
        elif choice < 0.60:
            self.post(connection, "/v1/completions", {"prompt": "ROMEO:", "max_tokens": random.randint(1, 16)}, 200,
                      "completion")
        elif choice < 0.70:
            self.post(connection, "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}, 200, "chat")
        elif choice < 0.76:
            self.post(connection, "/v1/completions", b'{"prompt": "ROMEO:", "max_tokens": ', 400, "malformed_json")
        elif choice < 0.80:
            self.post(connection, "/v1/completions", {"prompt": "x", "temperature": "hot"}, 400, "bad_parameter")
        elif choice < 0.84:
            self.post(connection, "/v1/chat/completions",
                      '{"messages": [{"role": "user", "content": ' + "[" * 5000 + "]" * 5000 + "}]}", 400, "deep_json")
        elif choice < 0.88:
            # Larger than --max-body with a Content-Length: answered 413, the connection stays usable.
            self.post(connection, "/v1/completions", b'{"prompt": "' + b"a" * (MAX_BODY + 1000) + b'"}', 413,
                      "oversized_body")
        elif choice < 0.91:
            self.post(connection, "/v1/completions", {"prompt": "a " * 3000, "max_tokens": 4}, 400, "prompt_too_long")
        elif choice < 0.94:
            many = {f"X-Extra-{i}": "1" for i in range(100)}
            self.post(connection, "/v1/completions", {"prompt": "x"}, 431, "too_many_headers", headers=many)
            connection.close()  # answered with Connection: close
        elif choice < 0.97:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                self.record("health")
            else:
                self.fail("health", f"status {response.status}")
        else:
            self.malformed_http()

    def malformed_http(self):
        """A request line no HTTP server accepts: a 400, never a reset."""
        with socket.create_connection((self.host, self.port), timeout=60) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            if reply.startswith(b"HTTP/1.1 400"):
                self.record("malformed_http")
            else:
                self.fail("malformed_http", f"reply {reply[:60]!r}")

    def client(self):
        connection = self.connection()
        last_used = time.time()
        while time.time() < self.stop_at:
            # HTTP/1.1 lets a server close an idle connection at any time (it says when in its
            # Keep-Alive header: 5 s); a request sent as it does so is lost to a reset. Like
            # any careful client, do not reuse a connection near that time-out.
            if time.time() - last_used > KEEP_ALIVE_SECONDS - 1:
                connection.close()
                connection = self.connection()
            try:
                self.one_request(connection)
            except Exception as error:  # a reset, a time-out, a broken stream: all unexpected
                self.fail("exception", f"{type(error).__name__} in {self.local.kind}: {error}")
                connection.close()
                connection = self.connection()
            last_used = time.time()

    # ---- the run
    def run(self):
        self.start_server()
        started = time.time()
        self.stop_at = started + self.args.minutes * 60
        workers = [threading.Thread(target=self.client, daemon=True) for _ in range(self.args.clients)]
        for worker in workers:
            worker.start()
        warmup_end = started + min(60.0, self.args.minutes * 60 * 0.2)
        samples, rss_after_warmup = [], None
        while time.time() < self.stop_at:
            time.sleep(min(5.0, max(0.1, self.stop_at - time.time())))
            if self.server.poll() is not None:
                break
            rss = rss_bytes(self.server.pid)
            samples.append((round(time.time() - started), rss))
            if rss_after_warmup is None and time.time() >= warmup_end:
                rss_after_warmup = rss
        for worker in workers:
            worker.join(timeout=120)
        crashed = self.server.poll() is not None
        health = None
        if not crashed:
            try:
                connection = self.connection()
                connection.request("GET", "/health")
                health = connection.getresponse().status
            except OSError as error:
                health = str(error)
            rss_end = rss_bytes(self.server.pid)
            self.server.send_signal(signal.SIGTERM)
            try:
                exit_code = self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                exit_code = "hung on SIGTERM"
        else:
            rss_end, exit_code = None, self.server.returncode
        rss_after_warmup = rss_after_warmup or (samples[0][1] if samples else None)
        rss_ok = bool(rss_end and rss_after_warmup and rss_end <= rss_after_warmup * (1 + self.args.rss_slack))
        result = {
            "minutes": self.args.minutes, "clients": self.args.clients,
            "requests": sum(self.counts.values()), "by_kind": dict(self.counts),
            "unexpected_errors": sum(self.unexpected.values()), "unexpected": dict(self.unexpected),
            "crashed": crashed, "health_at_end": health, "exit_code": exit_code,
            "rss_after_warmup_mib": round(rss_after_warmup / 2**20, 1) if rss_after_warmup else None,
            "rss_end_mib": round(rss_end / 2**20, 1) if rss_end else None,
            "rss_max_mib": round(max(s[1] for s in samples) / 2**20, 1) if samples else None,
        }
        print(json.dumps(result), flush=True)
        if self.args.rss_log:
            with open(self.args.rss_log, "w") as log:
                log.writelines(f"{t} {r}\n" for t, r in samples)
        passed = (not crashed and result["unexpected_errors"] == 0 and health == 200 and exit_code == 0 and rss_ok)
        return 0 if passed else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jisu", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="the server's compute threads")
    parser.add_argument("--rss-slack", type=float, default=0.10, help="allowed RSS growth after warm-up")
    parser.add_argument("--rss-log", help="write 'seconds rss_bytes' samples here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    random.seed(args.seed)
    sys.exit(Soak(args).run())


if __name__ == "__main__":
    main()
