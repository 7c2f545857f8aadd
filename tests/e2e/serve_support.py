"""Helpers for the `jisu serve` end-to-end tests: start a server on a free port, speak HTTP with
the standard library only (http.client), parse SSE streams and Prometheus metrics."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# The bundled model: small enough for many requests on two cores, also under sanitizers.
def default_model(source_dir):
    return os.path.join(source_dir, "models", "demo-shakespeare.q8_0.gguf")


class Server:
    """A `jisu serve --port 0` process; the port is read from its first stdout line."""

    def __init__(self, jisu, model, *extra):
        self.args = [jisu, "serve", "-m", model, "--port", "0", "-t", "1", *extra]
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on http://([^:]+):(\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.process.stderr.read()}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.stderr_lines = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def connection(self, timeout=120):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None):
        """Returns (status, parsed JSON or text)."""
        connection = self.connection()
        try:
            data = raw if raw is not None else (json.dumps(body) if body is not None else None)
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text
        finally:
            connection.close()

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def stream(self, path, body, headers=None):
        """POSTs with stream: true; returns (status, list of JSON events, saw [DONE])."""
        connection = self.connection()
        try:
            connection.request("POST", path, body=json.dumps({**body, "stream": True}),
                               headers={"Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            if response.status != 200:
                return response.status, [json.loads(response.read())], False
            events, done = [], False
            for event in iter_sse(response):
                if event == "[DONE]":
                    done = True
                    break
                events.append(json.loads(event))
            return response.status, events, done
        finally:
            connection.close()

    def metrics(self):
        status, text = self.request("GET", "/metrics")
        assert status == 200, (status, text)
        return parse_metrics(text)

    def wait_for_metric(self, name, predicate, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.metrics().get(name)
            if value is not None and predicate(value):
                return value
            time.sleep(0.05)
        raise AssertionError(f"metric {name} never satisfied the condition; metrics now: {self.metrics()}")

    def terminate(self, timeout=20, signal_number=signal.SIGTERM):
        """SIGTERM (or another signal); returns the exit status (raises if the server does not
        exit in time)."""
        self.process.send_signal(signal_number)
        return self.process.wait(timeout=timeout)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def iter_sse(response):
    """Yields the data of each SSE event (comments skipped)."""
    data = []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data: "):
            data.append(line[6:])
        # ":" lines are comments (keep-alive probes)


def stream_text(events, chat=False):
    pieces = []
    for event in events:
        for choice in event.get("choices", []):
            pieces.append(choice["delta"].get("content", "") if chat else choice["text"])
    return "".join(pieces)


def parse_metrics(text):
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    return values


class Checks:
    """Collects failures instead of stopping at the first one."""

    def __init__(self, name):
        self.name, self.failures = name, 0

    def check(self, condition, what, detail=""):
        if condition:
            print(f"ok: {what}")
        else:
            self.failures += 1
            print(f"FAIL: {what} {detail}", file=sys.stderr)

    def finish(self):
        if self.failures:
            print(f"{self.name}: {self.failures} failure(s)", file=sys.stderr)
            sys.exit(1)
        print(f"{self.name}: all passed")


def is_openai_error(body, param=None):
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]
            and "type" in error and "param" in error and "code" in error and (param is None or error["param"] == param))


def raw_socket_request(server, body, key=None):
    """Sends a request and returns the open socket (to disconnect from)."""
    data = json.dumps(body).encode()
    sock = socket.create_connection((server.host, server.port))
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + (f"Authorization: Bearer {key}\r\n" if key else "").encode()
                 + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock
