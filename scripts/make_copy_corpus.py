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

A passage is a run of consecutive speeches from a random place in the input, from --min-chars
to --max-chars long. The output is the same for the same input, seed and options (Python
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


def passage(blocks, rng, min_chars, max_chars):
    """Consecutive blocks from a random start, at least min_chars and at most max_chars long;
    None when the start's first block alone is longer than max_chars."""
    start = rng.randrange(len(blocks))
    parts = []
    length = 0
    for block in blocks[start:]:
        added = len(block) + (2 if parts else 0)
        if length + added > max_chars:
            break
        parts.append(block)
        length += added
        if length >= min_chars:
            return "\n\n".join(parts)
    return None


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


def build(text, seed, copy_share, edit_share, min_chars, max_chars):
    rng = random.Random(seed)
    blocks = speeches(text)
    if not blocks:
        raise ValueError("the input has no text")
    vocabulary = sorted(set(WORD.findall(text)))
    out = []
    for block in blocks:
        out.append(block)
        if rng.random() >= copy_share:
            continue
        chosen = None
        for _ in range(20):  # a start whose first speech is too long is retried
            chosen = passage(blocks, rng, min_chars, max_chars)
            if chosen is not None:
                break
        if chosen is None:
            continue
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
    result = []
    attempts = 0
    while len(result) < 2 * count:
        attempts += 1
        if attempts > 1000 * (count + 1):
            raise ValueError("cannot find %d passages of %d..%d characters" % (count, min_chars, max_chars))
        chosen = passage(blocks, rng, min_chars, max_chars)
        if chosen is None or chosen.count("\n") < 3:
            continue
        k = len(result) // 2
        start, rest = split_after_two_lines(chosen)
        edit = edit_instruction(chosen, vocabulary, rng)
        if edit is None:
            continue
        instruction, edited = edit
        edited_start, edited_rest = split_after_two_lines(edited)
        result.append(("copy-%d" % k, COPY_INSTRUCTION + "\n\n" + chosen + "\n\n" + start, rest))
        result.append(("edit-%d" % k, instruction + "\n\n" + chosen + "\n\n" + edited_start, edited_rest))
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
    parser.add_argument("--min-chars", type=int, default=200)
    parser.add_argument("--max-chars", type=int, default=500)
    parser.add_argument("--prompts", type=int, default=0, help="write this many test prompts of each kind to -o DIR")
    args = parser.parse_args()
    if not (0 <= args.copy_share <= 1 and 0 <= args.edit_share <= 1):
        sys.exit("error: --copy-share and --edit-share are probabilities (0..1)")
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
                args.output, build(text, args.seed, args.copy_share, args.edit_share, args.min_chars, args.max_chars))
    except (OSError, ValueError) as e:
        sys.exit("error: %s" % e)


if __name__ == "__main__":
    main()
