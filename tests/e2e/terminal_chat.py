"""`jisu chat` in a pseudo-terminal, as a person uses it: greedy replies and their prompt sizes
equal what `jisu serve` answers for the same messages (so the history, /system and /reset are
what the model saw), the speed line follows each reply, the prefix cache serves earlier turns,
Ctrl-C stops a reply and a second Ctrl-C exits (130), Ctrl-D exits (0).
    python3 terminal_chat.py JISU SOURCE_DIR"""
import os
import pty
import re
import select
import signal
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_support import Checks, Server, default_model  # noqa: E402

SPEED_LINE = re.compile(r"\[(\d+) tokens in [\d.]+ s, [\d.]+ tokens/s; prompt (\d+) tokens \((\d+) cached\); ([^\]]+)\]\n")
PROMPT = "> "


class Terminal:
    """`jisu chat ARGS` on a pty without echo; output normalised to \\n line ends."""

    def __init__(self, jisu, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            attributes = termios.tcgetattr(0)
            attributes[3] &= ~termios.ECHO
            termios.tcsetattr(0, termios.TCSANOW, attributes)
            os.execv(jisu, [jisu, "chat", *args])
        self.output = ""
        self.exit_status = None

    def read_until(self, pattern, timeout=120):
        """Reads until `pattern` (a regex) matches the output; returns (text before, match)."""
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            match = regex.search(self.output)
            if match:
                before = self.output[:match.start()]
                self.output = self.output[match.end():]
                return before, match
            remaining = deadline - time.time()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"no {pattern!r} in the output; it ends with {self.output[-400:]!r}")

    def _read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # the child exited and closed the pty
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return True

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait_exit(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exit_status = os.waitstatus_to_exitcode(status)
                return self.exit_status
            self._read(0.05)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError("jisu chat did not exit")

    def close(self):
        if self.exit_status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ProcessLookupError:
                pass
        os.close(self.fd)


def turn(terminal, line):
    """Sends one line; returns (reply text, completion tokens, prompt tokens, cached, how it ended)."""
    terminal.send(line + "\n")
    reply, match = terminal.read_until(SPEED_LINE.pattern)
    terminal.read_until(re.escape(PROMPT) + "$")
    return reply[:-1] if reply.endswith("\n") else reply, int(match[1]), int(match[2]), int(match[3]), match[4]


def main():
    jisu, source_dir = sys.argv[1], sys.argv[2]
    model = default_model(source_dir)
    checks = Checks("terminal_chat")
    server = Server(jisu, model)
    sampling = {"temperature": 0, "max_tokens": 24}

    def api(messages):
        status, body = server.post("/v1/chat/completions", {"messages": messages, **sampling})
        assert status == 200, body
        return body["choices"][0]["message"]["content"], body["usage"]["prompt_tokens"]

    terminal = Terminal(jisu, "-m", model, "-t", "1", "--temp", "0", "-n", "24")
    try:
        terminal.read_until(re.escape(PROMPT) + "$")
        history = [{"role": "user", "content": "ROMEO:"}]
        reply, tokens, prompt_tokens, _, ended = turn(terminal, "ROMEO:")
        expected, expected_prompt = api(history)
        checks.check(reply == expected and prompt_tokens == expected_prompt,
                     "the first reply equals the server's for the same message",
                     f"chat {reply!r} ({prompt_tokens} prompt tokens), server {expected!r} ({expected_prompt})")
        checks.check(tokens == 24 and ended == "finished: length", "the speed line counts the reply's tokens",
                     f"{tokens} {ended}")

        history += [{"role": "assistant", "content": reply}, {"role": "user", "content": "JULIET:"}]
        reply, _, prompt_tokens, cached, _ = turn(terminal, "JULIET:")
        expected, expected_prompt = api(history)
        checks.check(reply == expected and prompt_tokens == expected_prompt, "the second reply sees the history",
                     f"chat {reply!r} ({prompt_tokens}), server {expected!r} ({expected_prompt})")
        checks.check(cached > 0, "the earlier turn comes from the prefix cache", f"{cached} cached")

        terminal.send("/reset\n")
        terminal.send("/system Speak in prose.\n")
        terminal.read_until(r"\(system prompt set\)\n")
        terminal.read_until(re.escape(PROMPT) + "$")
        reply, _, prompt_tokens, _, _ = turn(terminal, "ROMEO:")
        expected, expected_prompt = api([{"role": "system", "content": "Speak in prose."},
                                         {"role": "user", "content": "ROMEO:"}])
        checks.check(reply == expected and prompt_tokens == expected_prompt,
                     "after /reset and /system the model sees only the system prompt and the new message",
                     f"chat {reply!r} ({prompt_tokens}), server {expected!r} ({expected_prompt})")

        terminal.send("\x04")  # Ctrl-D at the prompt
        checks.check(terminal.wait_exit() == 0, "Ctrl-D exits with 0", str(terminal.exit_status))
    finally:
        terminal.close()
        server.kill()

    # A long reply (a 2048-token context takes seconds to fill): Ctrl-C stops it, the prompt
    # returns, a Ctrl-C at the prompt exits with 130.
    terminal = Terminal(jisu, "-m", model, "-t", "1", "-c", "2048", "-n", "-1")
    try:
        terminal.read_until(re.escape(PROMPT) + "$")
        terminal.send("ROMEO:\n")
        terminal.read_until(r"\S{2}")
        terminal.send("\x03")
        _, match = terminal.read_until(SPEED_LINE.pattern, timeout=30)
        checks.check(match[4] == "stopped" and int(match[1]) < 2000, "Ctrl-C stops the reply", match[0])
        terminal.read_until(re.escape(PROMPT) + "$", timeout=30)
        terminal.send("\x03")
        checks.check(terminal.wait_exit() == 130, "a Ctrl-C at the prompt exits with 130", str(terminal.exit_status))
    finally:
        terminal.close()

    # Ctrl-C twice during a reply, as a person presses it (signals sent at once would merge).
    terminal = Terminal(jisu, "-m", model, "-t", "1", "-c", "2048", "-n", "-1", "-q")
    try:
        terminal.read_until(re.escape(PROMPT) + "$")
        terminal.send("JULIET:\n")
        terminal.read_until(r"\S{2}")
        terminal.send("\x03")
        time.sleep(0.1)
        terminal.send("\x03")
        checks.check(terminal.wait_exit() == 130, "Ctrl-C twice during a reply exits with 130", str(terminal.exit_status))
    finally:
        terminal.close()
    checks.finish()


if __name__ == "__main__":
    main()
