#!/usr/bin/env python3
"""Serving throughput of OpenAI-compatible servers under C concurrent clients (a benchmark, never a
test assertion). Each client sends /v1/completions back to back on its own keep-alive connection
for S seconds; a level reports generated tokens/s (the servers' usage.completion_tokens), requests/s,
request latency p50/p90/p99 and errors (non-200 answers, broken connections).

Several servers are measured in one run, alternating: for each round, each level, each server in
turn, so that load from other processes on the machine falls on all of them alike.

  # jisu serve against llama-server on the same file (both started here, kept running):
  python3 benchmarks/serving_load.py --model /tmp/serving/tl.q4_0.gguf --jisu build/jisu \\
      --llama-server /work/peer/llama.cpp/build/bin/llama-server --levels 1,8,32 --seconds 25
  # a running server:
  python3 benchmarks/serving_load.py --url jisu=http://127.0.0.1:8080 --levels 32

Request mix (defaults, as in the issue's table): non-streamed completions of 32 tokens at
temperature 0.8, a seed per request, short prompts rotating over PROMPTS. --stream streams instead
(then the tokens are still counted from the final usage chunk, which both servers send).
Only the standard library is used.
"""
import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PROMPTS = ["ROMEO:", "JULIET:\nO Romeo, Romeo,", "First Citizen:\nBefore we proceed", "KING HENRY:\n",
           "HAMLET:\nTo be, or not to be,", "MENENIUS:\nWhat work's, my countrymen,", "Nurse:\n", "GLOUCESTER:\n"]


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A server to measure: started here (and stopped at the end) or already running."""

    def __init__(self, name, url=None, command=None, log=None):
        self.name, self.process, self.log = name, None, log
        if command:
            port = free_port()
            command = [part.replace("{port}", str(port)) for part in command]
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process and self.process.poll() is not None:
                raise SystemExit(f"{self.name}: the server exited with {self.process.returncode} (log: {self.log.name})")
            try:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
                connection.request("GET", "/health")
                status = connection.getresponse().status
                connection.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"{self.name}: not ready after {timeout} s")

    def stop(self):
        if self.process:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def one_request(connection, body, stream):
    """Returns (completion tokens, ok). Raises OSError / http.client errors on a broken connection."""
    connection.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        response.read()
        return 0, False
    if not stream:
        payload = json.loads(response.read())
        return int(payload.get("usage", {}).get("completion_tokens", 0)), True
    tokens = 0
    while True:
        line = response.readline()
        if not line:
            break
        line = line.decode().strip()
        if line == "data: [DONE]":
            response.read()
            break
        if line.startswith("data: "):
            usage = json.loads(line[6:]).get("usage")
            if usage:
                tokens = int(usage.get("completion_tokens", 0))
    return tokens, True


def run_level(server, clients, seconds, args):
    record = {"latency": [], "tokens": 0, "errors": 0, "requests": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(index):
        connection = None
        n = 0
        while time.perf_counter() < deadline:
            body = {"prompt": PROMPTS[(index + n) % len(PROMPTS)], "max_tokens": args.max_tokens,
                    "temperature": args.temperature, "seed": index * 100003 + n, "stream": args.stream}
            if args.stream:
                body["stream_options"] = {"include_usage": True}
            n += 1
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(server.host, server.port, timeout=600)
                tokens, ok = one_request(connection, body, args.stream)
            except (OSError, http.client.HTTPException, ValueError):
                tokens, ok = 0, False
                if connection:
                    connection.close()
                connection = None
            latency = time.perf_counter() - start
            with lock:
                record["requests"] += 1
                if ok:
                    record["tokens"] += tokens
                    record["latency"].append(latency)
                else:
                    record["errors"] += 1
        if connection:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return record, time.perf_counter() - started


def load_average():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", action="append", default=[], help="NAME=URL of a running server (repeatable)")
    parser.add_argument("--model", help="GGUF file for the servers started here")
    parser.add_argument("--jisu", action="append", default=[],
                        help="start `JISU serve` (repeatable: NAME=PATH compares binaries, e.g. old=a/jisu)")
    parser.add_argument("--jisu-args", default="-t 2 --max-seqs 64 -c 512")
    parser.add_argument("--llama-server", help="start this llama-server binary too")
    parser.add_argument("--llama-args", default="-t 2 -np 32 -c 16384")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--rounds", type=int, default=1, help="alternations of every level over every server")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--ready-timeout", type=float, default=300)
    args = parser.parse_args()

    servers = []
    logs = tempfile.mkdtemp(prefix="serving_load_")
    try:
        for entry in args.url:
            name, _, url = entry.partition("=")
            servers.append(Server(name if url else "server", url=url or name))
        for entry in args.jisu:
            name, _, path = entry.rpartition("=")
            name = name or "jisu"
            command = [path, "serve", "--port", "{port}", *args.jisu_args.split()]
            if args.model:
                command += ["-m", args.model]
            servers.append(Server(name, command=command, log=open(os.path.join(logs, name + ".log"), "w")))
        if args.llama_server:
            if not args.model:
                parser.error("--llama-server needs --model")
            command = [args.llama_server, "-m", args.model, "--port", "{port}", "--host", "127.0.0.1",
                       *args.llama_args.split()]
            servers.append(Server("llama-server", command=command, log=open(os.path.join(logs, "llama.log"), "w")))
        if not servers:
            parser.error("give --url, --jisu or --llama-server")
        for server in servers:
            server.wait_ready(args.ready_timeout)
            run_level(server, 1, 0.01, args)  # warm-up: one request

        print(f"# {args.max_tokens}-token completions, temperature {args.temperature}, "
              f"{'streamed' if args.stream else 'not streamed'}, {args.seconds:g} s per level; "
              f"cpus {os.cpu_count()}; server logs in {logs}", flush=True)
        print(f"{'server':>14} {'clients':>7} {'requests':>8} {'req/s':>7} {'tokens/s':>9} "
              f"{'lat p50':>8} {'lat p90':>8} {'lat p99':>8} {'errors':>6} {'load':>5}", flush=True)
        results = {}
        levels = [int(x) for x in args.levels.split(",")]
        for _ in range(args.rounds):
            for level in levels:
                for server in servers:
                    load = load_average()
                    record, elapsed = run_level(server, level, args.seconds, args)
                    rate = record["tokens"] / elapsed
                    results.setdefault((server.name, level), []).append(rate)
                    lat = [percentile(record["latency"], f) * 1e3 for f in (0.5, 0.9, 0.99)]
                    print(f"{server.name:>14} {level:>7} {record['requests']:>8} {record['requests'] / elapsed:>7.2f} "
                          f"{rate:>9.1f} {lat[0]:>6.0f}ms {lat[1]:>6.0f}ms {lat[2]:>6.0f}ms "
                          f"{record['errors']:>6} {load:>5}", flush=True)
        if len(servers) > 1:
            base = servers[-1].name
            print(f"# tokens/s ratios to {base} (per round, then of the medians)")
            for level in levels:
                for server in servers[:-1]:
                    pairs = zip(results[(server.name, level)], results[(base, level)])
                    ratios = [a / b if b else float("inf") for a, b in pairs]
                    mine = sorted(results[(server.name, level)])[len(ratios) // 2]
                    theirs = sorted(results[(base, level)])[len(ratios) // 2]
                    print(f"{server.name:>14} / {base} at {level:>3} clients: "
                          + " ".join(f"{r:.2f}x" for r in ratios)
                          + f"  (medians {mine:.1f} / {theirs:.1f} = {mine / theirs if theirs else float('inf'):.2f}x)")
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
