#!/usr/bin/env python3
"""Render a chat template with Python jinja2 configured exactly as Hugging Face transformers
configures it (transformers/utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[AssistantTracker ("generation" block tag), jinja2.ext.loopcontrols]), its own
`tojson` filter (json.dumps with ensure_ascii=False), and the `raise_exception` and
`strftime_now` globals.

This is the reference the engine's renderer is compared against; it never runs jisu code.

Usage: reference_render.py TEMPLATE MESSAGES.json [--context CONTEXT.json] [--add-generation-prompt]
Prints the rendered prompt (no extra newline) or exits 1 with the jinja2 error on stderr.

Context: every key is passed to render() as a top-level variable, as transformers passes its
template kwargs. One key is special: "__now__" ("YYYY-MM-DDTHH:MM:SS") pins the clock that
strftime_now() reads, so renders are deterministic (the engine honours the same key).
MESSAGES.json is a list of messages, or an object with a "messages" list whose other keys are
merged into the context (the same rule as `jisu chat-template`).
"""
import argparse
import datetime
import functools
import json
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationBlock(jinja2.ext.Extension):
    """transformers' AssistantTracker: `{% generation %}...{% endgeneration %}` is a call block
    whose caller's output is returned unchanged (tracking is inactive in plain rendering)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_environment(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return (now or datetime.datetime.now()).strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlock, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def split_messages(messages_doc, context):
    """The CLI's rule: a list is the messages; an object gives "messages" and adds its other keys
    to the context (explicit context keys win)."""
    if isinstance(messages_doc, dict):
        merged = {k: v for k, v in messages_doc.items() if k != "messages"}
        merged.update(context)
        return messages_doc.get("messages", []), merged
    return messages_doc, context


@functools.lru_cache(maxsize=16)
def compile_template(template_source, now):
    """Compiled templates are immutable and reusable: a caller rendering one template many
    times (compare_with_jinja2.py) compiles it once."""
    return make_environment(now).from_string(template_source)


def render(template_source, messages, context, add_generation_prompt):
    now = None
    if isinstance(context.get("__now__"), str):
        now = datetime.datetime.fromisoformat(context["__now__"])
    template = compile_template(template_source, now)
    variables = dict(context)
    variables["messages"] = messages
    variables["add_generation_prompt"] = add_generation_prompt
    return template.render(**variables)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("template")
    parser.add_argument("messages")
    parser.add_argument("--context")
    parser.add_argument("--add-generation-prompt", action="store_true")
    args = parser.parse_args()
    with open(args.template, encoding="utf-8") as f:
        source = f.read()
    with open(args.messages, encoding="utf-8") as f:
        messages_doc = json.load(f)
    context = {}
    if args.context:
        with open(args.context, encoding="utf-8") as f:
            context = json.load(f)
    messages, context = split_messages(messages_doc, context)
    try:
        out = render(source, messages, context, args.add_generation_prompt)
    except Exception as error:  # jinja2 errors and Python errors raised while rendering alike
        print(f"jinja2 error: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.buffer.write(out.encode("utf-8"))


if __name__ == "__main__":
    main()
