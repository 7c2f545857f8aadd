"""16 concurrent greedy requests (different prompts and lengths, half sharing a long prefix,
some streamed) must give exactly the texts of the same requests run one at a time, and the
prefix cache must serve the shared prefix instead of recomputing it: requests arriving together
wait for the blocks another one is computing, so the prefix is computed once."""
import sys
import threading

from serve_support import Checks, Server, default_model, stream_text

jisu, source_dir = sys.argv[1], sys.argv[2]
checks = Checks("serve_concurrency")

SHARED = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
          "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
          "First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n\n")
SUFFIXES = ["All:\n", "Second Citizen:\n", "MENENIUS:\n", "First Citizen:\nWe know",
            "All:\nWe know't, we know't.\n\n", "MARCIUS:\nThanks.", "Second Citizen:\nOne word,", "All:\nNay,"]
OWN = ["ROMEO:", "JULIET:\nO Romeo,", "KING RICHARD III:\nNow is the winter", "HAMLET:\nTo be",
       "LADY MACBETH:\nOut, damned", "PROSPERO:\nOur revels now are ended.", "Clown:", "BRUTUS:\nRomans,"]

requests = []
for i, suffix in enumerate(SUFFIXES):
    requests.append({"prompt": SHARED + suffix, "max_tokens": 12 + 5 * i, "temperature": 0})
for i, prompt in enumerate(OWN):
    requests.append({"prompt": prompt, "max_tokens": 48 - 4 * i, "temperature": 0})
STREAMED = {1, 4, 9, 14}  # indexes sent with stream: true in the concurrent run

server = Server(jisu, default_model(source_dir), "--max-seqs", "16", "-b", "128")
try:
    before = server.metrics()

    results = [None] * len(requests)

    def run(index):
        body = requests[index]
        if index in STREAMED:
            status, events, done = server.stream("/v1/completions", body)
            results[index] = (status, stream_text(events) if status == 200 else events, done, events)
        else:
            status, response = server.post("/v1/completions", body)
            results[index] = (status, response["choices"][0]["text"] if status == 200 else response, True, response)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = server.metrics()

    # The same requests one at a time (non-streamed).
    sequential, sequential_usage = [], []
    for body in requests:
        status, response = server.post("/v1/completions", body)
        checks.check(status == 200, f"sequential request {len(sequential)}", response)
        sequential.append(response["choices"][0]["text"] if status == 200 else None)
        sequential_usage.append(response["usage"] if status == 200 else {"prompt_tokens": 0, "completion_tokens": 0})

    for index, (status, text, done, raw) in enumerate(results):
        mode = "streamed" if index in STREAMED else "whole"
        checks.check(status == 200, f"concurrent request {index} ({mode}) status", raw)
        checks.check(text == sequential[index], f"concurrent request {index} ({mode}) equals sequential",
                     f"\n  concurrent: {text!r}\n  sequential: {sequential[index]!r}")
        if index in STREAMED and status == 200:
            checks.check(done, f"stream {index} ends with [DONE]")
            final = [e for e in raw if e.get("choices") and e["choices"][0].get("finish_reason")]
            checks.check(len(final) == 1 and final[0].get("usage", {}).get("completion_tokens", 0) > 0,
                         f"stream {index} has one final chunk with usage", final)
        elif status == 200:
            usage = raw["usage"]
            checks.check(usage["completion_tokens"] == requests[index]["max_tokens"] or
                         raw["choices"][0]["finish_reason"] == "stop", f"request {index} usage", usage)
    checks.check(len(set(sequential)) > 8, "prompts give different texts", sequential)

    # Prefix cache: whichever shared-prefix request runs first computes the prefix; the other
    # seven reuse its blocks.
    prefix_tokens = server.post("/v1/completions", {"prompt": SHARED, "max_tokens": 1})[1]["usage"]["prompt_tokens"]
    shared_blocks_tokens = (prefix_tokens - 1) // 16 * 16  # full blocks surely inside the prefix
    hits = after["jisu_prefix_cache_hit_tokens_total"] - before["jisu_prefix_cache_hit_tokens_total"]
    checks.check(hits >= 7 * shared_blocks_tokens, "prefix cache hits cover the shared prefix 7 times",
                 f"hits {hits}, expected >= {7 * shared_blocks_tokens}")
    # Every token evaluated once at most: prompts minus reused positions, plus decodes.
    computed = after["jisu_forward_tokens_total"] - before["jisu_forward_tokens_total"]
    budget = sum(u["prompt_tokens"] + u["completion_tokens"] for u in sequential_usage) - hits
    checks.check(0 < computed <= budget, "forward passes skipped the cached prefix",
                 f"computed {computed}, at most {budget}")
    checks.check(after["jisu_kv_blocks_used"] == 0, "no KV block in use after all requests",
                 after["jisu_kv_blocks_used"])
finally:
    server.kill()
checks.finish()
