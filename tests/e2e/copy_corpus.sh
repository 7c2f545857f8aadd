#!/usr/bin/env bash
# scripts/make_copy_corpus.py (the copy/edit fine-tuning text of docs/speculative_decoding.md):
#  - the same input and seed give the same file; another seed another one;
#  - every copy example is a passage followed by exactly that passage, every edit example by the
#    passage with the one word replaced; the plain text is all there, in order;
#  - --scramble-share 1: every passage is an input speech's words, shuffled, then the same again;
#  - --prompts: each prompt plus its expected continuation is the instruction, the passage and
#    its (edited) copy;
#  - bad options: one error line, exit status not 0, no output file.
#   bash tests/e2e/copy_corpus.sh path/to/jisu path/to/source-dir
set -u
SOURCE=$(cd "$2" && pwd)
SHARED=$(cd "${JISU_SHARED_DIR:-$2/../shared}" && pwd)
SCRIPT=$SOURCE/scripts/make_copy_corpus.py
TMP=$(mktemp -d "${TMPDIR:-/tmp}/jisu-copy-corpus.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

head -c 40000 "$SHARED/models/demo-shakespeare/valid.txt" > text.txt
python3 "$SCRIPT" text.txt -o a.txt --seed 3 || fail "corpus builder failed"
python3 "$SCRIPT" text.txt -o b.txt --seed 3 || fail "second run failed"
python3 "$SCRIPT" text.txt -o c.txt --seed 4 || fail "third run failed"
cmp -s a.txt b.txt || fail "the same seed gave different files"
cmp -s a.txt c.txt && fail "another seed gave the same file"
python3 "$SCRIPT" text.txt --prompts 3 -o prompts --seed 3 --min-chars 150 --max-chars 400 || fail "prompts failed"

python3 - text.txt a.txt prompts <<'PY' || fail "corpus or prompts are not what they say"
import os, re, sys
text, corpus, prompts = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
COPY = "Repeat the following speech exactly.\n\n"
EDIT = re.compile(r'Repeat the speech, replacing "([A-Za-z]+)" with "([A-Za-z]+)"\.\n\n')

def split_example(rest, transform):
    """The passage P such that rest starts with P + blank line + transform(P), else None."""
    for end in [m.start() for m in re.finditer("\n\n", rest)]:
        p = rest[:end]
        if rest.startswith(p + "\n\n" + transform(p)):
            return p
    return None

examples = copies = edits = 0
plain = corpus
for m in re.finditer(re.escape(COPY) + "|" + EDIT.pattern, corpus):
    examples += 1
    rest = corpus[m.end():]
    if m.group(0) == COPY:
        transform = lambda p: p
        copies += 1
    else:
        old, new = EDIT.match(m.group(0)).groups()
        transform = lambda p, o=old, n=new: re.sub(r"\b" + o + r"\b", n, p)
        edits += 1
    p = split_example(rest, transform)
    assert p is not None, "example %d is not passage + copy: %r" % (examples, rest[:200])
    assert p in text, "example %d's passage is not from the input" % examples
    plain = plain.replace(m.group(0) + p + "\n\n" + transform(p) + "\n\n", "", 1)
assert copies > 10 and edits > 2, (copies, edits)
assert plain.strip() == "\n\n".join(b.strip("\n") for b in text.split("\n\n") if b.strip()), "plain text not kept in order"

for k in range(3):
    for kind in ("copy", "edit"):
        prompt = open(os.path.join(prompts, "%s-%d.txt" % (kind, k))).read()
        whole = prompt + open(os.path.join(prompts, "%s-%d.expected.txt" % (kind, k))).read()
        m = EDIT.match(whole) if kind == "edit" else re.match(re.escape(COPY), whole)
        assert m, "%s-%d has no instruction" % (kind, k)
        transform = (lambda p: p) if kind == "copy" else \
            (lambda p, o=m.group(1), n=m.group(2): re.sub(r"\b" + o + r"\b", n, p))
        rest = whole[m.end():]
        p = split_example(rest, transform)
        assert p is not None and rest == p + "\n\n" + transform(p), "%s-%d is not passage + copy" % (kind, k)
        assert 150 <= len(p) <= 400 and "\n\n" not in p and p in text, "%s-%d's passage" % (kind, k)
        assert len(prompt) < len(whole), "%s-%d leaves nothing to copy" % (kind, k)
PY

python3 "$SCRIPT" text.txt -o s.txt --seed 3 --edit-share 0 --scramble-share 1 || fail "scrambled corpus failed"
python3 - text.txt s.txt <<'PY' || fail "scrambled examples are not shuffled speeches and their copies"
import re, sys
text, corpus = open(sys.argv[1]).read(), open(sys.argv[2]).read()
COPY = "Repeat the following speech exactly.\n\n"
speeches = {tuple(sorted(b.split())) for b in text.split("\n\n")}
examples = shuffled = 0
for m in re.finditer(re.escape(COPY), corpus):
    rest = corpus[m.end():]
    ends = [e.start() for e in re.finditer("\n\n", rest)]
    p = next((rest[:e] for e in ends if rest.startswith(rest[:e] + "\n\n" + rest[:e])), None)
    assert p is not None, "not passage + copy: %r" % rest[:200]
    assert tuple(sorted(p.split())) in speeches, "not a speech's words: %r" % p
    examples += 1
    shuffled += p not in text
assert examples > 10 and shuffled > examples // 2, (examples, shuffled)
PY

output=$(python3 "$SCRIPT" text.txt -o bad.txt --copy-share 2 2>&1)
[[ $? != 0 && $output == error:* && $(wc -l <<<"$output") == 1 ]] || fail "bad --copy-share: $output"
output=$(python3 "$SCRIPT" missing.txt -o bad.txt 2>&1)
[[ $? != 0 && $output == error:* && $(wc -l <<<"$output") == 1 ]] || fail "missing input: $output"
[[ -e bad.txt ]] && fail "a failed run left bad.txt"

((failures == 0)) && echo "copy_corpus: all checks passed"
exit $((failures > 0))
