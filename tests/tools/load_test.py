#!/usr/bin/env python3
"""Load test for `jisu serve` (a benchmark, never a test assertion): for each concurrency level,
N streams each run back-to-back streamed completions for a fixed time; reports total generated
tokens/s, time to first token (p50/p99) and inter-token latency (p50/p99, between SSE chunks
with text, divided over the tokens they carry).

  python3 tests/tools/load_test.py --url http://127.0.0.1:8080 --levels 1,8,32,64 --seconds 20
  python3 tests/tools/load_test.py --jisu build/jisu --levels 1,8,32,64   # starts its own server
benchmarks/serving_load.py measures non-streamed requests and compares servers (llama-server too).
"""
import argparse
import http.client
import json
import pathlib
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
from serving_load import PROMPTS, percentile  # noqa: E402  (one prompt mix and percentile for both tools)


def one_stream(host, port, body, record):
    start = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=600)
    connection.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        record["errors"] += 1
        response.read()
        connection.close()
        return
    first, last, tokens = None, None, 0
    while True:
        line = response.readline()
        if not line:
            break
        line = line.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            if line == "data: [DONE]":
                break
            continue
        event = json.loads(line[6:])
        now = time.perf_counter()
        if event.get("usage") and event["choices"] and event["choices"][0].get("finish_reason"):
            tokens = event["usage"]["completion_tokens"]
        if event["choices"] and event["choices"][0].get("text"):
            if first is None:
                first = now
                record["ttft"].append(now - start)
            else:
                record["itl"].append(now - last)
            last = now
    connection.close()
    record["tokens"] += tokens


def run_level(host, port, streams, seconds, max_tokens):
    record = {"ttft": [], "itl": [], "tokens": 0, "errors": 0, "requests": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(index):
        n = 0
        while time.perf_counter() < deadline:
            local = {"ttft": [], "itl": [], "tokens": 0, "errors": 0}
            body = {"prompt": PROMPTS[(index + n) % len(PROMPTS)], "max_tokens": max_tokens, "temperature": 0.8,
                    "seed": index * 1000 + n, "stream": True}
            one_stream(host, port, body, local)
            n += 1
            with lock:
                for key in ("ttft", "itl"):
                    record[key].extend(local[key])
                record["tokens"] += local["tokens"]
                record["errors"] += local["errors"]
                record["requests"] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return record, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server")
    parser.add_argument("--jisu", help="start `JISU serve` instead (bundled model unless --model)")
    parser.add_argument("--model")
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--server-args", default="--max-seqs 64 --max-queue 64")
    args = parser.parse_args()
    process = None
    if args.jisu:
        command = [args.jisu, "serve", "--port", "0", *args.server_args.split()]
        if args.model:
            command += ["-m", args.model]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        match = re.search(r"http://([^:]+):(\d+)", process.stdout.readline())
        host, port = match.group(1), int(match.group(2))
    else:
        parsed = urllib.parse.urlparse(args.url or "http://127.0.0.1:8080")
        host, port = parsed.hostname, parsed.port
    try:
        print(f"{'streams':>7} {'requests':>8} {'tokens/s':>9} {'TTFT p50':>9} {'TTFT p99':>9} "
              f"{'ITL p50':>8} {'ITL p99':>8} {'errors':>6}")
        for level in (int(x) for x in args.levels.split(",")):
            record, elapsed = run_level(host, port, level, args.seconds, args.max_tokens)
            print(f"{level:>7} {record['requests']:>8} {record['tokens'] / elapsed:>9.1f} "
                  f"{percentile(record['ttft'], 0.5) * 1e3:>7.1f}ms {percentile(record['ttft'], 0.99) * 1e3:>7.1f}ms "
                  f"{percentile(record['itl'], 0.5) * 1e3:>6.1f}ms {percentile(record['itl'], 0.99) * 1e3:>6.1f}ms "
                  f"{record['errors']:>6}", flush=True)
    finally:
        if process:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
