"""Decode time per token of `jisu run` without and with a JSON schema, alternating runs.
    python3 benchmarks/grammar_decode_speed.py [RUNS] [JISU] [MODEL] [openai]
Wall time per token (the CLI's generation summary) and CPU time per token: the process's CPU
seconds for 480 tokens minus those of a 1-token run (load, tokenizer, grammar set-up), over 479.
On a shared machine the CPU time is the steadier of the two (it does not count waiting for a
core), so its ratio is the one to quote there.
The schema makes the model write for all 480 tokens, so both runs decode the same count.
Default sampling is the CLI's (top-k 40, top-p 0.95, min-p 0.05: every token is masked);
`openai` samples as OpenAI's defaults do (no truncation), where a draw the grammar accepts
needs no mask."""
import re
import resource
import statistics
import subprocess
import sys

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
JISU = sys.argv[2] if len(sys.argv) > 2 else "./build/jisu"
MODEL = sys.argv[3] if len(sys.argv) > 3 else "models/demo-shakespeare.q8_0.gguf"
OPENAI = len(sys.argv) > 4 and sys.argv[4] == "openai"
SCHEMA = ('{"type":"array","minItems":12,"maxItems":12,"items":{"type":"object","properties":'
          '{"speaker":{"type":"string","minLength":8,"maxLength":30},"line":{"type":"string","minLength":20,'
          '"maxLength":60}},"required":["speaker","line"]}}')


def cpu_seconds_of(args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stderr = subprocess.run(args, capture_output=True, text=True, check=True).stderr
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return stderr, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ms_per_token(seed, schema, tokens=480):
    """(wall ms/token, process CPU seconds) of one run."""
    args = [JISU, "run", "-m", MODEL, "-t", "1", "-n", str(tokens), "--temp", "1", "-s", str(seed), "-p", "ROMEO:"]
    if schema:
        args += ["-j", SCHEMA]
    if OPENAI:
        args += ["--top-k", "0", "--top-p", "1", "--min-p", "0"]
    stderr, cpu = cpu_seconds_of(args)
    match = re.search(r"generation: (\d+) tokens in ([\d.]+) s", stderr)
    return float(match.group(2)) / int(match.group(1)) * 1e3, cpu


times = {False: [], True: []}
cpu = {False: [], True: []}
for run in range(RUNS):
    for schema in (False, True):
        wall, total = ms_per_token(run + 1, schema)
        _, startup = ms_per_token(run + 1, schema, 1)
        times[schema].append(wall)
        cpu[schema].append((total - startup) / 479 * 1e3)
for schema in (False, True):
    values = times[schema]
    print("schema" if schema else "plain ",
          f"ms/token best {min(values):.4f} median {statistics.median(values):.4f} (runs {len(values)}); "
          f"CPU ms/token median {statistics.median(cpu[schema]):.4f}")
print(f"ratio schema/plain: best {min(times[True]) / min(times[False]):.3f} "
      f"median {statistics.median(times[True]) / statistics.median(times[False]):.3f}; "
      f"CPU time median {statistics.median(cpu[True]) / statistics.median(cpu[False]):.3f}")
