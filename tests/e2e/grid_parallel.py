"""The process grid under mpirun; see grid_parallel.sh. Compares against the fixtures' float64
reference logits and llama.cpp's greedy continuations (fixtures/README.md), never against jisu
itself."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

JISU, FIXTURES = sys.argv[1], sys.argv[2]
MODELS = os.path.join(FIXTURES, "models")
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
failures = []
work = tempfile.mkdtemp()


def fail(message):
    print("FAIL:", message, flush=True)
    failures.append(message)


def mpirun(np_, args, timeout=120):
    return subprocess.run(MPIRUN + ["-np", str(np_), JISU] + args, capture_output=True, text=True, timeout=timeout)


def tolerance(qtype):
    if qtype == "f32":
        return 1e-4, 1.0
    if qtype in ("f16", "bf16"):
        return 5e-3, 1.0
    return 3e-2, 0.9  # activations quantized for the integer dot products


def check_logits(name, np_, grid):
    meta = json.load(open(os.path.join(MODELS, name + ".json")))
    exact = np.fromfile(os.path.join(MODELS, name + ".exact.logits"), dtype=np.float32).reshape(len(meta["tokens"]), -1)
    out = os.path.join(work, f"{name}.{np_}.{'_'.join(grid)}.bin")
    tokens = ",".join(map(str, meta["tokens"]))
    run = mpirun(np_, ["logits", "-m", os.path.join(MODELS, name + ".gguf"), "--tokens", tokens, "-o", out, "-t", "1"] + grid)
    label = f"{name} -np {np_} {' '.join(grid)}"
    if "moe" in name and "--tp" in grid:
        # Mixture-of-experts layers are not split by tensor parallelism: one error line per rank.
        if run.returncode == 0 or run.stderr.count("does not split mixture-of-experts") != np_:
            fail(f"{label}: expected the MoE refusal on every rank, got {run.returncode}: {run.stderr[-400:]}")
        return
    if run.returncode != 0:
        fail(f"{label}: exit {run.returncode}: {run.stderr[-600:]}")
        return
    got = np.fromfile(out, dtype=np.float32).reshape(exact.shape)
    error = float(np.linalg.norm(got.astype(np.float64) - exact) / np.linalg.norm(exact))
    top1 = float(np.mean(np.argmax(got, 1) == np.argmax(exact, 1)))
    limit, top1_limit = tolerance(name.split(".")[-1])
    print(f"{label}: rel L2 {error:.2e} (<= {limit}), top-1 {top1:.3f}", flush=True)
    if not (error <= limit and top1 >= top1_limit):
        fail(f"{label}: rel L2 {error:.3e} (limit {limit}), top-1 {top1:.3f} (limit {top1_limit})")
    if run.stdout.strip() or run.stderr.count("wrote ") != 1:
        fail(f"{label}: only rank 0 may print: stdout {run.stdout!r}, stderr {run.stderr!r}")


names = sorted(f[:-5] for f in os.listdir(MODELS) if f.endswith(".gguf"))
# Three launches at a time: most of a launch is mpirun starting and the ranks meeting.
from concurrent.futures import ThreadPoolExecutor

cases = [(name, 2, [flag, "2"]) for name in names for flag in ("--tp", "--pp")]
cases += [(name, 4, ["--tp", "2", "--pp", "2"]) for name in ("tiny-llama-s1.f32", "tiny-qwen2-s1.q8_0", "tiny-phi3-s1.q4_k_m")]
with ThreadPoolExecutor(3) as pool:
    list(pool.map(lambda case: check_logits(*case), cases))


def expect_error(label, np_, args, text):
    run = mpirun(np_, args, timeout=60)
    lines = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    if run.returncode == 0 or len(lines) != np_ or not all(text in line for line in lines):
        fail(f"{label}: wanted '{text}' once per rank and a failure, got exit {run.returncode}: {run.stderr[-600:]}")
    else:
        print(f"{label}: {lines[0]}", flush=True)


llama = os.path.join(MODELS, "tiny-llama-s1.q8_0.gguf")
base = ["logits", "-m", llama, "--tokens", "1,2,3", "-o", os.path.join(work, "x.bin"), "-t", "1"]
expect_error("tp 3 (4 query heads)", 3, base + ["--tp", "3"], "does not divide the model's query heads")
expect_error("tp 4 (2 KV heads)", 4, base + ["--tp", "4"], "does not divide the model's KV heads")
expect_error("pp 4 (3 layers)", 4, base + ["--pp", "4"], "exceeds the model's 3 layers")
expect_error("world of 2 for tp 2 x pp 2", 2, base + ["--tp", "2", "--pp", "2"], "needs 4 processes but 2 were started")
other = os.path.join(MODELS, "tiny-llama-s1.q4_0.gguf")
mismatch = subprocess.run(MPIRUN + ["-np", "1", JISU] + base + ["--tp", "2"] + [":", "-np", "1", JISU, "logits", "-m", other,
                          "--tokens", "1,2,3", "-o", os.path.join(work, "y.bin"), "-t", "1", "--tp", "2"],
                          capture_output=True, text=True, timeout=60)
lines = [line for line in mismatch.stderr.splitlines() if line.startswith("error:")]
if mismatch.returncode == 0 or len(lines) != 2 or not all("different model" in line for line in lines):
    fail(f"mismatched models: exit {mismatch.returncode}: {mismatch.stderr[-600:]}")
else:
    print("mismatched models:", lines[0], flush=True)


def start_server(np_, model, grid, extra=(), max_seqs=4):
    launcher = MPIRUN + ["-np", str(np_)] if np_ > 1 else []
    proc = subprocess.Popen(launcher + [JISU, "serve", "-m", model, "--port", "0", "-t", "1",
                                      "--max-seqs", str(max_seqs)] + grid + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r} {proc.stderr.read()[-600:]}")
    return proc, line.strip().rsplit(":", 1)[1]


def complete(port, prompt, n):
    body = json.dumps({"prompt": prompt, "max_tokens": n, "temperature": 0}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", body, {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=60))["choices"][0]["text"]


# Greedy decoding through a grid server, 4 requests at once so that steps batch several
# sequences, gives the same tokens as one process (whose greedy output the fixture tests check
# against llama.cpp's). Compared as the servers' texts of the fixture's continuation length.
# Under --pp 2 the server keeps two steps in flight, each of its own group of sequences (2 of
# the 4; in the last case 4 of 8, whose requests end at different lengths so the groups are
# re-formed as they finish).
for name, grid, n_requests in (("tiny-llama-s1.f32", ["--tp", "2"], 4), ("tiny-qwen2-s1.f16", ["--pp", "2"], 4),
                               ("tiny-gemma-s1.f16", ["--tp", "2"], 4), ("tiny-phi3-s1.f32", ["--pp", "2"], 4),
                               ("tiny-llama-s1.f32", ["--pp", "2"], 8)):
    meta = json.load(open(os.path.join(MODELS, name + ".json")))
    model = os.path.join(MODELS, name + ".gguf")
    prompts = [meta["tokens"][: meta["greedy_prompt_len"] + i] for i in range(n_requests)]
    n = len(meta["greedy_output"])
    lengths = [n - (i % 3) * max(1, n // 4) for i in range(n_requests)]
    texts = {}
    for label, np_, args in (("one process", 1, []), ("grid", 2, grid)):
        try:
            proc, port = start_server(np_, model, args, max_seqs=n_requests)
        except RuntimeError as error:
            fail(f"{name} serve {label} {grid}: {error}")
            break
        try:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(n_requests) as pool:
                texts[label] = list(pool.map(lambda job: complete(port, *job), zip(prompts, lengths)))
        except Exception as error:  # noqa: BLE001 - the message is the test's output
            fail(f"{name} serve {label} {grid}: {error}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail(f"{name} serve {label} {grid}: did not stop on SIGTERM")
    if len(texts) == 2:
        if texts["grid"] != texts["one process"]:
            fail(f"{name} serve {grid}: greedy {texts['grid']!r} != one process's {texts['one process']!r}")
        else:
            print(f"{name} serve {grid}: {n_requests} concurrent greedy completions equal one process's", flush=True)


def rank_pid(mpirun_pid, rank):
    for pid in subprocess.run(["pgrep", "-P", str(mpirun_pid)], capture_output=True, text=True).stdout.split():
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return int(pid)
    return None


def keep_busy(port, stop):
    # Requests until the server goes away, so that --pp 2 has steps of both groups in flight.
    while not stop.is_set():
        try:
            complete(port, [1, 2, 3], 64)
        except Exception:  # noqa: BLE001 - the server is expected to go away
            return


# A killed rank (SIGKILL) and a stalled one (SIGSTOP, found by the collectives' timeout): the
# others exit non-zero within a bound, never hang; under --pp 2 while serving 4 requests (a
# step of each group in flight when it happens).
for how, sig, bound, grid in (("killed", signal.SIGKILL, 30, ["--tp", "2"]), ("stopped", signal.SIGSTOP, 30, ["--tp", "2"]),
                              ("killed", signal.SIGKILL, 30, ["--pp", "2"]), ("stopped", signal.SIGSTOP, 30, ["--pp", "2"])):
    how = f"{how} rank ({' '.join(grid)})"
    try:
        proc, port = start_server(2, llama, grid + ["--grid-timeout", "3"])
    except RuntimeError as error:
        fail(f"{how}: {error}")
        continue
    stop_clients = threading.Event()
    clients = []
    if "--pp" in grid:
        clients = [threading.Thread(target=keep_busy, args=(port, stop_clients), daemon=True) for _ in range(4)]
        for client in clients:
            client.start()
        time.sleep(1)
    pid = rank_pid(proc.pid, 1)
    if pid is None:
        fail(f"{how}: rank 1 not found")
        stop_clients.set()
        proc.kill()
        continue
    os.kill(pid, sig)
    start = time.time()
    if how.startswith("stopped") and not clients:
        try:
            complete(port, [1, 2, 3], 4)
        except Exception:  # noqa: BLE001 - the server is expected to go away
            pass
    try:
        status = proc.wait(timeout=bound)
        print(f"{how}: mpirun exited {status} after {time.time() - start:.1f} s", flush=True)
        if status == 0:
            fail(f"{how}: the grid exited 0")
    except subprocess.TimeoutExpired:
        fail(f"{how}: the others still run after {bound} s")
        proc.kill()
    stop_clients.set()
    if how.startswith("stopped"):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("grid: all checks passed")
