#!/usr/bin/env python3
"""jisu bench and llama-bench side by side, alternately, on the same GGUF files and threads.

    benchmarks/side_by_side.py [--llama-bench PATH] [-t THREADS] [--rounds N] MODEL.gguf [MODEL.gguf ...]

For each round and each model it runs `llama-bench -m F -t T -p P -n N -r R -o json` and then
`jisu bench -m F -t T -p P -n N -r R --json` (the order swaps every round, so neither always
runs first on a warm cache), and prints one markdown table: pp and tg tokens/s of both, the
ratios jisu / llama.cpp, jisu's decode against its own bandwidth probe (roofline %) and the
kernel path jisu reported. The load average before each run is printed too: numbers taken on a
busy machine are noisy, and the table says so.

The llama-bench binary comes from --llama-bench or the LLAMA_BENCH environment variable; without
one (or when the file is missing) the script says so, exits 0 and runs jisu alone. jisu is
build/jisu unless JISU names another binary. Speed is reported, never asserted.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return float("nan")


def run_json(command):
    """Runs a bench command that prints JSON on stdout; returns the parsed value."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-400:]}")
    text = result.stdout
    start = text.find("[")  # llama-bench may print build notes before its JSON
    return json.loads(text[start:])


def llama_bench(binary, model, args):
    rows = run_json([binary, "-m", model, "-t", str(args.threads), "-p", str(args.prompt), "-n", str(args.gen),
                     "-r", str(args.repeats), "-o", "json"])
    out = {}
    for row in rows:
        if row.get("n_prompt", 0) > 0 and row.get("n_gen", 0) == 0:
            out["pp"] = row["avg_ts"]
        elif row.get("n_gen", 0) > 0 and row.get("n_prompt", 0) == 0:
            out["tg"] = row["avg_ts"]
    return out


def jisu_bench(binary, model, args):
    rows = run_json([binary, "bench", "-m", model, "-t", str(args.threads), "-p", str(args.prompt), "-n",
                     str(args.gen), "-r", str(args.repeats), "--json"])
    out = {}
    for row in rows:
        if row["test"].startswith("pp"):
            out["pp"] = row["tokens_per_second"]
        elif row["test"].startswith("tg"):
            out["tg"] = row["tokens_per_second"]
            out["roofline"] = row["roofline_pct"]
            out["probe"] = row["bandwidth_probe_gbps"]
        out["path"] = row.get("kernel_path", row.get("isa", "?"))
    return out


def fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="GGUF files (the same file for both engines)")
    parser.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH", ""), help="llama-bench binary (env LLAMA_BENCH)")
    parser.add_argument("--jisu", default=os.environ.get("JISU", "build/jisu"), help="jisu binary (env JISU)")
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("-p", "--prompt", type=int, default=128)
    parser.add_argument("-n", "--gen", type=int, default=32)
    parser.add_argument("-r", "--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args()

    peer = args.llama_bench
    if not peer or not os.access(peer, os.X_OK):
        print(f"llama-bench not found ({peer or 'set LLAMA_BENCH or --llama-bench'}): running jisu alone, no ratios")
        peer = None

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = "unknown CPU"
    print(f"CPU: {cpu}, {args.threads} threads; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"commands: {peer or 'llama-bench'} -m F -t {args.threads} -p {args.prompt} -n {args.gen} -r {args.repeats} -o json")
    print(f"          {args.jisu} bench -m F -t {args.threads} -p {args.prompt} -n {args.gen} -r {args.repeats} --json\n")

    results = {model: {"llama": [], "jisu": []} for model in args.models}
    loads = []
    for round_index in range(args.rounds):
        for model in args.models:
            order = ["llama", "jisu"] if round_index % 2 == 0 else ["jisu", "llama"]
            for engine in order:
                if engine == "llama" and peer is None:
                    continue
                loads.append(load_average())
                try:
                    value = llama_bench(peer, model, args) if engine == "llama" else jisu_bench(args.jisu, model, args)
                except (RuntimeError, ValueError, KeyError) as error:
                    print(f"round {round_index + 1}, {engine}, {os.path.basename(model)}: {error}", file=sys.stderr)
                    continue
                results[model][engine].append(value)
                print(f"round {round_index + 1} {engine:5s} {os.path.basename(model)}: "
                      + ", ".join(f"{k} {fmt(v, 2) if isinstance(v, float) else v}" for k, v in value.items()),
                      file=sys.stderr, flush=True)

    p, n = args.prompt, args.gen
    print(f"| model | llama.cpp pp{p} | jisu pp{p} | pp ratio | llama.cpp tg{n} | jisu tg{n} | tg ratio | "
          f"jisu tg roofline % (probe GB/s) | jisu path |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for model in args.models:
        mine, theirs = results[model]["jisu"], results[model]["llama"]

        def med(rows, key):
            values = [r[key] for r in rows if key in r]
            return statistics.median(values) if values else None

        def ratios(key):
            # One ratio per round (same round, adjacent runs), shown as min–max.
            values = [a[key] / b[key] for a, b in zip(mine, theirs) if key in a and key in b and b[key] > 0]
            if not values:
                return "–"
            return f"{min(values):.2f}×" if len(values) == 1 or min(values) == max(values) else f"{min(values):.2f}–{max(values):.2f}×"

        path = mine[-1]["path"] if mine else "?"
        probe = med(mine, "probe")
        print(f"| {os.path.basename(model)} | {fmt(med(theirs, 'pp'))} | {fmt(med(mine, 'pp'))} | {ratios('pp')} | "
              f"{fmt(med(theirs, 'tg'))} | {fmt(med(mine, 'tg'))} | {ratios('tg')} | "
              f"{fmt(med(mine, 'roofline'))} ({fmt(probe)}) | {path} |")
    finite = [x for x in loads if x == x]
    if finite:
        print(f"\nt/s: medians over {args.rounds} rounds; ratios: per round, min–max. "
              f"Load average (1 min) before the runs: {min(finite):.2f}–{max(finite):.2f} "
              f"on {os.cpu_count()} CPUs.")


if __name__ == "__main__":
    main()
