#!/usr/bin/env python3
"""Every chat template x every conversation x generation prompt on/off: `jisu chat-template`
must print exactly what jinja2 renders (reference_render.py, run in-process here), and must fail
(exit status 1, one "error:" line on stderr, nothing on stdout) exactly where jinja2 raises.

Usage: compare_with_jinja2.py JISU CONVERSATIONS_DIR TEMPLATES_DIR [TEMPLATES_DIR...] [--expressions FILE]
--expressions: one-line templates (a file of them, '#' comments), each rendered once with the
user_only conversation.
Prints one line per failure and a summary "N passed, M failed"; exits 1 if anything failed or
if there was nothing to compare (a missing fixture directory is a failure, never a skip).
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_render  # noqa: E402  (needs jinja2: scripts/install_deps.sh installs it)

# Every case renders with a pinned clock and the special tokens transformers would pass.
CONTEXT = {"__now__": "2026-01-15T10:30:00", "bos_token": "<s>", "eos_token": "</s>"}
TIMEOUT_S = 20


def reference(template_source, messages_doc, add_generation_prompt):
    messages, context = reference_render.split_messages(messages_doc, dict(CONTEXT))
    try:
        return reference_render.render(template_source, messages, context, add_generation_prompt), None
    except Exception as error:  # what reference_render.main reports as "jinja2 error"
        return None, f"{type(error).__name__}: {error}"


def run_engine(jisu, template_path, messages_path, context_path, add_generation_prompt):
    command = [jisu, "chat-template", "--template", template_path, "--messages", messages_path,
               "--context", context_path]
    if add_generation_prompt:
        command.append("--add-generation-prompt")
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, None, f"timed out after {TIMEOUT_S} s"
    return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")


def first_difference(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return i, a[max(0, i - 40):i + 40], b[max(0, i - 40):i + 40]


def check(case, jisu, context_path):
    """(problem or None, whether jinja2 raised)."""
    template_path, messages_path, add_generation_prompt, _ = case
    with open(template_path, encoding="utf-8") as f:
        source = f.read()
    with open(messages_path, encoding="utf-8") as f:
        messages_doc = json.load(f)
    expected, expected_error = reference(source, messages_doc, add_generation_prompt)
    raised = expected_error is not None
    rc, out, err = run_engine(jisu, template_path, messages_path, context_path, add_generation_prompt)
    if rc is None:
        return err, raised
    if rc >= 128 or rc < 0:
        return f"engine killed by a signal (status {rc}): {err.strip()[:300]}", raised
    if raised:
        if rc == 0:
            return f"jinja2 raised ({expected_error[:200]}) but the engine rendered {len(out)} bytes", raised
        lines = err.splitlines()
        if rc != 1 or len(lines) != 1 or not lines[0].startswith("error:") or out:
            return f"engine failed untidily (status {rc}, stderr {err[:300]!r}, {len(out)} bytes on stdout)", raised
        return None, raised
    if rc != 0:
        return f"engine failed where jinja2 rendered: {err.strip()[:400]}", raised
    expected_bytes = expected.encode("utf-8")
    if out != expected_bytes:
        at, want, got = first_difference(expected_bytes, out)
        return (f"output differs at byte {at} (jinja2 {len(expected_bytes)} bytes, engine {len(out)}):\n"
                f"      jinja2: {want!r}\n      engine: {got!r}"), raised
    return None, raised


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    args = sys.argv[1:]
    expressions_path = None
    if "--expressions" in args:
        at = args.index("--expressions")
        expressions_path = args[at + 1] if at + 1 < len(args) else ""
        del args[at:at + 2]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    jisu, conversations_dir, template_dirs = os.path.abspath(args[0]), args[1], args[2:]
    if not os.access(jisu, os.X_OK):
        print(f"FAIL: {jisu} is not an executable")
        return 1
    missing = [p for p in [conversations_dir] + template_dirs if not os.path.isdir(p)]
    if missing:
        print(f"FAIL: missing template or conversation directories {missing} (set JISU_SHARED_DIR?)")
        return 1
    templates = [os.path.join(d, n) for d in template_dirs for n in sorted(os.listdir(d)) if n.endswith(".jinja")]
    conversations = sorted(os.path.join(conversations_dir, n) for n in os.listdir(conversations_dir)
                           if n.endswith(".json"))
    if not templates or not conversations:
        print(f"FAIL: nothing to compare ({len(templates)} templates, {len(conversations)} conversations)")
        return 1
    cases = [(t, c, g, f"{os.path.relpath(t)} x {os.path.basename(c)} (add_generation_prompt={g})")
             for t in templates for c in conversations for g in (False, True)]
    with tempfile.TemporaryDirectory(prefix="jisu-chat-templates-") as tmp:
        context_path = os.path.join(tmp, "context.json")
        with open(context_path, "w", encoding="utf-8") as f:
            json.dump(CONTEXT, f)
        if expressions_path is not None:
            if not os.path.isfile(expressions_path):
                print(f"FAIL: expressions file {expressions_path!r} not found")
                return 1
            with open(expressions_path, encoding="utf-8") as f:
                lines = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
            user_only = os.path.join(conversations_dir, "user_only.json")
            for number, line in enumerate(lines, 1):
                path = os.path.join(tmp, f"expression-{number}.jinja")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(line)
                cases.append((path, user_only, False, f"expression {number}: {line}"))
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(lambda case: check(case, jisu, context_path), cases))
    failed = 0
    for (_, _, _, label), (problem, _) in zip(cases, results):
        if problem is not None:
            failed += 1
            print(f"FAIL {label}: {problem}")
    raised = sum(1 for _, jinja2_raised in results if jinja2_raised)
    expressions = len(cases) - 2 * len(templates) * len(conversations)
    print(f"{len(templates)} templates x {len(conversations)} conversations x 2 (generation prompt off/on)"
          f" + {expressions} expressions = {len(cases)} cases, {len(cases) - raised} rendered and {raised} raised"
          f" by jinja2: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
