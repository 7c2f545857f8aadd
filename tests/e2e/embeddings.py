"""Embeddings end to end: a random-weight BERT GGUF with the bge vocabulary is written into the
build folder, and jisu's vectors (`jisu embed`, POST /v1/embeddings) are compared with the
float64 numpy forward of tests/tools/bert_fixture.py: cosine >= 0.9999 for each input, inputs of
different lengths batched in one forward. Exits 77 (skipped) without numpy or gguf."""
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile

SOURCE = sys.argv[2]
sys.path.insert(0, os.path.join(SOURCE, "tests", "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import bert_fixture
except ImportError as missing:
    print(f"SKIP: {missing} (scripts/install_test_deps.sh installs numpy and gguf)")
    sys.exit(77)
from serve_support import Server, default_model

JISU = os.path.abspath(sys.argv[1])
VOCAB = os.path.join(os.environ.get("JISU_SHARED_DIR", os.path.join(SOURCE, "..", "shared")), "fixtures",
                     "tokenizers", "ggml-vocab-bert-bge.gguf")
MIN_COSINE = 0.9999
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run(*args, stdin=None, env=None):
    return subprocess.run([JISU, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def tokenize(model, text, workdir):
    path = os.path.join(workdir, "text.txt")
    with open(path, "wb") as file:
        file.write(text.encode("utf-8"))
    result = run("tokenize", "-m", model, "--add-special", "-f", path)
    assert result.returncode == 0, result.stderr
    return [int(x) for x in result.stdout.split()]


def main():
    out_dir = os.path.join(os.path.dirname(JISU), "generated-fixtures")
    os.makedirs(out_dir, exist_ok=True)
    model = os.path.join(out_dir, "bert-random-bge.gguf")
    bert_fixture.write_fixture(model + ".tmp", VOCAB, "mean")
    os.replace(model + ".tmp", model)
    reference = bert_fixture.Reference(model)
    work = tempfile.mkdtemp(prefix="jisu-embed-")

    # Tokenization of the model file against the vocabulary fixture's expected ids (made by the
    # reference WordPiece tokenizer, without [CLS]/[SEP]).
    with open(VOCAB + ".inp", encoding="utf-8") as file:
        cases = file.read().split("\n__ggml_vocab_test__\n")
    with open(VOCAB + ".out", encoding="utf-8") as file:
        expected = file.read().split("\n")
    mismatched = [text for text, ids in zip(cases, expected) if ids.strip()
                  and tokenize(model, text, work) != [101] + [int(x) for x in ids.split()] + [102]]
    check(not mismatched, f"tokenization of {len(cases)} vocabulary test inputs with [CLS]/[SEP] ({mismatched[:2]})")

    # Inputs of different lengths, the longest near the fixture's 64 positions.
    words = " ".join(["the quick brown fox jumps over the lazy dog"] * 6).split()
    while len(tokenize(model, " ".join(words), work)) > 60:
        words.pop()
    texts = ["hello", "Hello world, this is a longer sentence to embed.", "a",
             "Ça va? 日本語 and some punctuation!!! (brackets) [x] 123.45", " ".join(words)]
    ids = [tokenize(model, text, work) for text in texts]
    expected_mean = [reference.embed(i, "mean") for i in ids]
    lengths = sorted({len(i) for i in ids})
    check(len(lengths) >= 4, f"inputs of different lengths {lengths}")

    # jisu embed: -f holds one input per line; all go through one forward.
    inputs = os.path.join(work, "inputs.txt")
    with open(inputs, "w", encoding="utf-8") as file:
        file.write("\n".join(texts) + "\n")

    def embed(*flags, env=None):
        result = run("embed", "-m", model, "-f", inputs, *flags, env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout), result.stderr

    vectors, log = embed()
    check("1 forwards" in log, f"all {len(texts)} inputs in one forward ({log.strip().splitlines()[-1]})")
    worst = min(cosine(v, e) for v, e in zip(vectors, expected_mean))
    check(worst >= MIN_COSINE, f"jisu embed, mean pooling (the file's pooling_type): worst cosine {worst:.7f}")
    # Sharper than the cosine, which cannot tell the tanh GELU from the exact one (0.99999998 on
    # this model): relative L2 error <= 1e-4, the fixtures' f32 tolerance (the tanh GELU: 1.7e-4).
    error = max(float(np.linalg.norm(np.asarray(v) - e) / np.linalg.norm(e)) for v, e in zip(vectors, expected_mean))
    check(error <= 1e-4, f"jisu embed, mean pooling: worst relative L2 error {error:.1e}")
    norms = [float(np.linalg.norm(v)) for v in vectors]
    check(all(abs(n - 1) < 1e-5 for n in norms), f"L2-normalised: norms {min(norms):.6f}..{max(norms):.6f}")

    vectors, _ = embed("--pooling", "cls", "--no-normalize")
    raw = [reference.embed(i, "cls", normalize=False) for i in ids]
    worst = min(cosine(v, e) for v, e in zip(vectors, raw))
    scale = max(abs(np.linalg.norm(v) / np.linalg.norm(e) - 1) for v, e in zip(vectors, raw))
    check(worst >= MIN_COSINE and scale < 1e-4, f"--pooling cls --no-normalize: worst cosine {worst:.7f}, norm error {scale:.1e}")

    vectors, _ = embed("--pooling", "none")
    worst = min(cosine(row, e_row) for v, i in zip(vectors, ids)
                for row, e_row in zip(v, reference.embed(i, "none")))
    check(all(len(v) == len(i) for v, i in zip(vectors, ids)) and worst >= MIN_COSINE,
          f"--pooling none: one vector per token, worst cosine {worst:.7f}")

    vectors, log = embed("--max-seqs", "2", "-b", "64", env={"JISU_ISA": "scalar"})
    worst = min(cosine(v, e) for v, e in zip(vectors, expected_mean))
    check(worst >= MIN_COSINE and "3 forwards" in log,
          f"scalar kernels, 2 inputs per forward: worst cosine {worst:.7f} ({log.strip().splitlines()[-1]})")

    result = run("embed", "-m", model, "--output", "plain", "-p", "hello", "-p", "world")
    lines = result.stdout.strip().split("\n")
    check(result.returncode == 0 and len(lines) == 2 and len(lines[0].split()) == 64, "--output plain: one line per input")

    # Bad input: one line naming the problem, non-zero exit.
    long_text = " ".join(["word"] * 100)
    for args, what in [(["-p", long_text], "tokens; at most"), (["-p", "x", "--pooling", "max"], "--pooling"),
                       (["-f", os.path.join(work, "missing.txt")], "cannot open")]:
        result = run("embed", "-m", model, *args)
        check(result.returncode != 0 and what in result.stderr and "Traceback" not in result.stderr,
              f"jisu embed {args[0]} {args[-1][:20]}: {result.stderr.strip().splitlines()[-1][:100]}")
    result = run("run", "-m", model, "-p", "hello", "-n", "4")
    check(result.returncode != 0 and "encoder" in result.stderr, f"jisu run on an encoder: {result.stderr.strip().splitlines()[-1][:120]}")
    demo = default_model(SOURCE)
    result = run("embed", "-m", demo, "-p", "hello")
    check(result.returncode != 0 and "not an embedding model" in result.stderr, f"jisu embed on a decoder: {result.stderr.strip().splitlines()[-1][:100]}")

    serve_checks(model, texts, ids, expected_mean)
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all embedding checks passed")


def serve_checks(model, texts, ids, expected_mean):
    server = Server(JISU, model)
    try:
        name = os.path.splitext(os.path.basename(model))[0]
        try:
            import openai
        except ImportError:
            openai = None
            print("note: the openai package is missing; its client checks are skipped")
        if openai:
            client = openai.OpenAI(base_url=f"http://{server.host}:{server.port}/v1", api_key="none")
            reply = client.embeddings.create(model=name, input=texts)
            vectors = [item.embedding for item in sorted(reply.data, key=lambda item: item.index)]
            worst = min(cosine(v, e) for v, e in zip(vectors, expected_mean))
            check(worst >= MIN_COSINE and reply.usage.prompt_tokens == sum(map(len, ids)),
                  f"openai client, {len(texts)} inputs: worst cosine {worst:.7f}, prompt_tokens {reply.usage.prompt_tokens}")
            # The client asks for base64 by default when numpy is there; ask explicitly too.
            reply = client.embeddings.create(model=name, input=texts[1], encoding_format="float")
            check(cosine(reply.data[0].embedding, expected_mean[1]) >= MIN_COSINE, "openai client, one string")
        status, body = server.post("/v1/embeddings", {"input": texts[:2], "encoding_format": "base64"})
        decoded = [struct.unpack(f"<{len(base64.b64decode(d['embedding'])) // 4}f", base64.b64decode(d["embedding"]))
                   for d in body["data"]] if status == 200 else []
        check(status == 200 and len(decoded) == 2 and min(cosine(v, e) for v, e in zip(decoded, expected_mean)) >= MIN_COSINE,
              "encoding_format base64: little-endian float32")
        status, body = server.post("/v1/embeddings", {"input": ids[:3]})
        check(status == 200 and min(cosine(d["embedding"], e) for d, e in zip(body["data"], expected_mean)) >= MIN_COSINE,
              "token-array inputs")
        status, body = server.post("/v1/embeddings", {"input": ids[0]})
        check(status == 200 and cosine(body["data"][0]["embedding"], expected_mean[0]) >= MIN_COSINE, "one token array")

        bad = [({"input": ""}, "empty string"), ({"input": []}, "empty list"), ({"input": ["a", ""]}, "empty item"),
               ({"input": 42}, "a number"), ({"input": ["a", 3]}, "mixed types"), ({"input": [[101, "x"]]}, "bad token"),
               ({"input": [[101, 999999]]}, "token outside the vocabulary"), ({"input": [[]]}, "empty token array"),
               ({}, "no input"), ({"input": " ".join(["word"] * 100)}, "too long"),
               ({"input": "a", "encoding_format": "int8"}, "bad encoding_format"),
               ({"input": "a", "model": "other"}, "another model"), ({"input": "a", "dimensions": 8}, "dimensions")]
        for body, what in bad:
            status, reply = server.post("/v1/embeddings", body)
            message = reply["error"]["message"] if isinstance(reply, dict) and "error" in reply else str(reply)
            check(status == 400, f"400 for {what}: {message[:90]}")
        status, reply = server.post("/v1/completions", {"prompt": "hello", "max_tokens": 4})
        check(status == 400 and "embedding model" in reply["error"]["message"], f"/v1/completions on an encoder: 400 ({reply['error']['message'][:80]})")
        status, reply = server.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        check(status == 400 and "embedding model" in reply["error"]["message"], "/v1/chat/completions on an encoder: 400")
    finally:
        server.terminate()

    server = Server(JISU, default_model(SOURCE))
    try:
        status, reply = server.post("/v1/embeddings", {"input": "hello"})
        check(status == 400 and "not an embedding model" in reply["error"]["message"],
              f"/v1/embeddings on a decoder: 400 ({reply['error']['message'][:80]})")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
