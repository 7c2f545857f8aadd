#!/usr/bin/env python3
"""Builds a training text that teaches a model to copy (and edit) a passage it is given.

The text is the input in order, speech by speech (blocks separated by a blank line), with a copy
example inserted after a speech with probability --copy-share:

    Repeat the following speech exactly.

    <passage>

    <passage again>

or, with probability --edit-share of the examples, an edit of one word:

    Repeat the speech, replacing "<word>" with "<other>".

    <passage>

    <passage with every whole-word <word> replaced by <other>>

A passage is one speech of the input (a random one), from --min-chars to --max-chars long. The output is the same for the same input, seed and options (Python
stdlib only, random.Random(seed)). Use it on the TRAINING part of a corpus only: the copy
examples repeat its text.

    python3 scripts/make_copy_corpus.py train.txt -o copy-train.txt --seed 1

With --prompts N it writes N held-out test prompts instead (use it on text the model was NOT
trained on): copy-K.txt is the copy instruction, a passage and the first two lines of its copy
(the speaker and a verse line); copy-K.expected.txt the rest of the copy, the text a model that
copies generates; edit-K.txt / edit-K.expected.txt the same for a one-word edit. -o is the folder.

    python3 scripts/make_copy_corpus.py valid.txt --prompts 4 -o prompts/ --seed 1
"""
import argparse
import os
import random
import re
import sys

COPY_INSTRUCTION = "Repeat the following speech exactly."
WORD = re.compile(r"[A-Za-z]{4,}")


def speeches(text):
    """The blocks of text separated by blank lines, without empty ones."""
    return [block.strip("\n") for block in text.split("\n\n") if block.strip()]


def passages(blocks, min_chars, max_chars):
    """The speeches from min_chars to max_chars long: a copy is of one whole speech, so that
    where the passage ends (a blank line) is where the copy ends."""
    chosen = [block for block in blocks if min_chars <= len(block) <= max_chars]
    if not chosen:
        raise ValueError("no speech of %d..%d characters" % (min_chars, max_chars))
    return chosen


def edit_instruction(text, vocabulary, rng):
    """(instruction, edited text) replacing one word of `text` everywhere by another, or None
    when the text has no word to replace."""
    words = sorted(set(WORD.findall(text)))
    if not words:
        return None
    old = rng.choice(words)
    new = rng.choice(vocabulary)
    if new == old:
        return None
    edited = re.sub(r"\b" + re.escape(old) + r"\b", new, text)
    return 'Repeat the speech, replacing "%s" with "%s".' % (old, new), edited


def scrambled(passage, rng):
    """The passage's words in a random order, each line keeping its number of words: text that
    only copying predicts (no play's phrasing helps), which teaches copying fastest."""
    lines = [line.split(" ") for line in passage.split("\n")]
    words = [word for line in lines[1:] for word in line]  # the speaker line stays
    rng.shuffle(words)
    out = ["\n".join(" ".join(w) for w in lines[:1])]
    at = 0
    for line in lines[1:]:
        out.append(" ".join(words[at:at + len(line)]))
        at += len(line)
    return "\n".join(out)


def build(text, seed, copy_share, edit_share, min_chars, max_chars, scramble_share=0.0):
    rng = random.Random(seed)
    blocks = speeches(text)
    if not blocks:
        raise ValueError("the input has no text")
    vocabulary = sorted(set(WORD.findall(text)))
    candidates = passages(blocks, min_chars, max_chars)
    out = []
    for block in blocks:
        out.append(block)
        if rng.random() >= copy_share:
            continue
        chosen = rng.choice(candidates)
        if scramble_share > 0 and rng.random() < scramble_share:
            chosen = scrambled(chosen, rng)
        example = None
        if rng.random() < edit_share:
            example = edit_instruction(chosen, vocabulary, rng)
        instruction, copy = example if example else (COPY_INSTRUCTION, chosen)
        out.append(instruction + "\n\n" + chosen + "\n\n" + copy)
    return "\n\n".join(out) + "\n"


def split_after_two_lines(text):
    """(the first two lines with their newlines, the rest) of text."""
    lines = text.split("\n")
    return "\n".join(lines[:2]) + "\n", "\n".join(lines[2:])


def prompts(text, seed, count, min_chars, max_chars):
    """[(name, prompt, expected continuation)] for `count` copy and `count` edit prompts."""
    rng = random.Random(seed)
    blocks = speeches(text)
    vocabulary = sorted(set(WORD.findall(text)))
    # Speeches of at least 3 lines, so that something is left to copy after the first two;
    # each used once.
    candidates = [p for p in passages(blocks, min_chars, max_chars) if p.count("\n") >= 2]
    rng.shuffle(candidates)
    result = []
    for chosen in candidates:
        if len(result) == 2 * count:
            break
        k = len(result) // 2
        start, rest = split_after_two_lines(chosen)
        edit = edit_instruction(chosen, vocabulary, rng)
        if edit is None:
            continue
        instruction, edited = edit
        edited_start, edited_rest = split_after_two_lines(edited)
        result.append(("copy-%d" % k, COPY_INSTRUCTION + "\n\n" + chosen + "\n\n" + start, rest))
        result.append(("edit-%d" % k, instruction + "\n\n" + chosen + "\n\n" + edited_start, edited_rest))
    if len(result) < 2 * count:
        raise ValueError("only %d speeches of %d..%d characters" % (len(result) // 2, min_chars, max_chars))
    return result


def write_atomically(path, text):
    temporary = path + ".partial"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="training text (blocks separated by blank lines)")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--copy-share", type=float, default=0.5, help="probability of a copy example after a speech")
    parser.add_argument("--edit-share", type=float, default=0.25, help="share of the examples that edit one word")
    parser.add_argument("--scramble-share", type=float, default=0.0,
                        help="share of the examples whose passage has its words shuffled")
    parser.add_argument("--min-chars", type=int, default=150)
    parser.add_argument("--max-chars", type=int, default=500)
    parser.add_argument("--prompts", type=int, default=0, help="write this many test prompts of each kind to -o DIR")
    args = parser.parse_args()
    if not all(0 <= share <= 1 for share in (args.copy_share, args.edit_share, args.scramble_share)):
        sys.exit("error: --copy-share, --edit-share and --scramble-share are probabilities (0..1)")
    if not 0 < args.min_chars <= args.max_chars:
        sys.exit("error: need 0 < --min-chars <= --max-chars")
    try:
        with open(args.input, encoding="utf-8") as f:
            text = f.read()
        if args.prompts > 0:
            os.makedirs(args.output, exist_ok=True)
            for name, prompt, expected in prompts(text, args.seed, args.prompts, args.min_chars, args.max_chars):
                write_atomically(os.path.join(args.output, name + ".txt"), prompt)
                write_atomically(os.path.join(args.output, name + ".expected.txt"), expected)
        else:
            write_atomically(
                args.output, build(text, args.seed, args.copy_share, args.edit_share, args.min_chars, args.max_chars,
                                  args.scramble_share))
    except (OSError, ValueError) as e:
        sys.exit("error: %s" % e)


if __name__ == "__main__":
    main()
