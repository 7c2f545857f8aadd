"""Data-parallel serving through scripts/serve_replicas.sh (HAProxy in front of 3 replicas):
 - session affinity: every request of one X-Session-ID reaches the same replica, whose /metrics
   then counts prefix-cache hits;
 - kill -9 of a replica while 32 clients send non-streaming requests: no request fails except
   those the killed replica had already answered the headers of (HAProxy retries connection
   failures and empty responses elsewhere), and the replica comes back;
 - a rolling restart (SIGTERM to each replica in turn, each draining) under the same load: no
   request fails;
 - SIGTERM to the script: everything stops, exit 0."""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from serve_support import Checks, default_model

jisu, source_dir = sys.argv[1], sys.argv[2]
checks = Checks("serve_replicas")
REPLICAS = 3


def free_base_port():
    for _ in range(200):
        base = random.randint(20000, 60000)
        try:
            sockets = []
            for offset in range(REPLICAS + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", base + offset))
                sockets.append(s)
            for s in sockets:
                s.close()
            return base
        except OSError:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


class BodyLost(Exception):
    """The response's headers came from `replica`, then its connection broke."""

    def __init__(self, replica, error):
        super().__init__(f"{replica}: {error!r}")
        self.replica = replica


def request(port, body, headers=None, path="/v1/completions", timeout=120):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST" if body is not None else "GET", path,
                           body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        replica = response.getheader("X-Served-By")
        try:
            text = response.read().decode()
        except (http.client.HTTPException, OSError) as error:
            raise BodyLost(replica, error)
        return response.status, replica, text
    finally:
        connection.close()


def replica_pid(run_dir, index):
    for _ in range(50):  # the supervisor may be writing it
        try:
            with open(os.path.join(run_dir, f"replica{index}.pid")) as f:
                return int(f.read())
        except ValueError:
            time.sleep(0.02)
    raise RuntimeError(f"no pid for replica {index}")


def wait_healthy(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if request(port, None, path="/health", timeout=2)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Load:
    """32 clients sending short completions until stopped; records every failure."""

    def __init__(self, port, clients=32):
        self.port, self.stop_flag, self.failures, self.done = port, False, [], 0
        self.lost_from = []  # replicas whose answers broke after their headers
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]
        for thread in self.threads:
            thread.start()

    def client(self, index):
        while not self.stop_flag:
            body = {"prompt": f"ROMEO {index}:", "max_tokens": 24, "temperature": 0}
            try:
                status, _, text = request(self.port, body)
                ok = status == 200 and json.loads(text)["usage"]["completion_tokens"] > 0
                failure = None if ok else (status, text[:200])
            except BodyLost as error:
                with self.lock:
                    self.lost_from.append(error.replica)
                continue
            except Exception as error:  # a failed request, whatever the cause
                failure = repr(error)
            with self.lock:
                if failure:
                    self.failures.append(failure)
                else:
                    self.done += 1

    def finish(self):
        self.stop_flag = True
        for thread in self.threads:
            thread.join(timeout=120)
        return self.done, self.failures


port = free_base_port()
run_dir = tempfile.mkdtemp(prefix="jisu-replicas-test.")
script = os.path.join(source_dir, "scripts", "serve_replicas.sh")
process = subprocess.Popen([script, "--replicas", str(REPLICAS), "--port", str(port), "--run-dir", run_dir,
                            "--jisu", jisu, "--", "-m", default_model(source_dir), "-t", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    line = process.stdout.readline()
    checks.check("listening on" in line, "replicas and haproxy started", line)
    if "listening on" not in line:
        checks.finish()

    # ---- session affinity and its prefix cache
    conversation = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun."
    served_by = set()
    for turn in range(6):
        status, replica, text = request(port, {"prompt": conversation, "max_tokens": 8, "temperature": 0},
                                        {"X-Session-ID": "conversation-42"})
        served_by.add(replica)
        conversation += json.loads(text)["choices"][0]["text"] if status == 200 else ""
    checks.check(len(served_by) == 1 and None not in served_by, "one session, one replica", served_by)
    if len(served_by) == 1 and None not in served_by:
        index = int(next(iter(served_by)).replace("replica", ""))
        _, _, metrics = request(port + index, None, path="/metrics")
        hits = [l for l in metrics.splitlines() if l.startswith("jisu_prefix_cache_hit_tokens_total")]
        checks.check(hits and float(hits[0].split()[-1]) > 0, "the session's replica reuses its prefix cache", hits)
    other = {request(port, {"prompt": "x", "max_tokens": 1}, {"X-Session-ID": f"s{i}"})[1] for i in range(24)}
    checks.check(len(other) > 1, "different sessions spread over replicas", other)

    # ---- kill -9 of one replica under load
    load = Load(port)
    time.sleep(1.5)
    victim = replica_pid(run_dir, 2)
    os.kill(victim, signal.SIGKILL)
    time.sleep(1.5)
    done, failures = load.finish()
    checks.check(not failures and done > 32, f"kill -9 under load: {done} requests, no failure "
                 f"({len(load.lost_from)} answers cut by the kill)", failures[:5])
    checks.check(set(load.lost_from) <= {"replica2"}, "only the killed replica's answers were cut", load.lost_from)
    checks.check(wait_healthy(port + 2) and replica_pid(run_dir, 2) != victim, "killed replica restarted")

    # ---- rolling restart by SIGTERM (each replica drains, exits and is started again)
    load = Load(port)
    for index in range(1, REPLICAS + 1):
        time.sleep(0.5)
        old = replica_pid(run_dir, index)
        os.kill(old, signal.SIGTERM)
        deadline = time.time() + 60
        while time.time() < deadline and (replica_pid(run_dir, index) == old or not wait_healthy(port + index, 1)):
            time.sleep(0.1)
        checks.check(replica_pid(run_dir, index) != old, f"replica {index} restarted")
    time.sleep(1.0)  # the last replica back in rotation (health checks) before the load stops
    done, failures = load.finish()
    checks.check(not failures and not load.lost_from and done > 32,
                 f"rolling restart under load: {done} requests, no failure", failures[:5] + load.lost_from[:5])

    # ---- stop
    process.send_signal(signal.SIGTERM)
    checks.check(process.wait(timeout=60) == 0, "SIGTERM stops replicas and haproxy, exit 0")
finally:
    if process.poll() is None:
        process.kill()
    for name in os.listdir(run_dir):  # whatever the script left running (it was killed, or failed)
        if name.endswith(".pid"):
            try:
                os.kill(int(open(os.path.join(run_dir, name)).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
checks.finish()
