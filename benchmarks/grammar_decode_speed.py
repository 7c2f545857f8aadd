"""Decode time per token of `jisu run` without and with a JSON schema, alternating runs.
    python3 benchmarks/grammar_decode_speed.py [RUNS] [JISU] [MODEL] [openai]
The schema makes the model write for all 480 tokens, so both runs decode the same count.
Default sampling is the CLI's (top-k 40, top-p 0.95, min-p 0.05: every token is masked);
`openai` samples as OpenAI's defaults do (no truncation), where a draw the grammar accepts
needs no mask."""
import re
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


def ms_per_token(seed, schema):
    args = [JISU, "run", "-m", MODEL, "-t", "1", "-n", "480", "--temp", "1", "-s", str(seed), "-p", "ROMEO:"]
    if schema:
        args += ["-j", SCHEMA]
    if OPENAI:
        args += ["--top-k", "0", "--top-p", "1", "--min-p", "0"]
    stderr = subprocess.run(args, capture_output=True, text=True, check=True).stderr
    match = re.search(r"generation: (\d+) tokens in ([\d.]+) s", stderr)
    return float(match.group(2)) / int(match.group(1)) * 1e3


times = {False: [], True: []}
for run in range(RUNS):
    for schema in (False, True):
        times[schema].append(ms_per_token(run + 1, schema))
for schema in (False, True):
    values = times[schema]
    print("schema" if schema else "plain ",
          f"ms/token best {min(values):.4f} median {statistics.median(values):.4f} (runs {len(values)})")
print(f"ratio schema/plain: best {min(times[True]) / min(times[False]):.3f} "
      f"median {statistics.median(times[True]) / statistics.median(times[False]):.3f}")
