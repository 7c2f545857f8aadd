"""The web chat of `jisu serve`, in headless Chromium: the page loads with the model's details,
a message streams a reply (seen growing in the page) equal to the API's greedy reply, markdown
renders to the HTML expected by hand, the stop button ends a reply,
and conversations survive a reload (localStorage).
    python3 web_chat.py JISU SOURCE_DIR [--screenshot PNG]   (exit 77: no Chromium, skipped)
--screenshot also saves the page at the end (the README's docs/web_chat.png), unpaced."""
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from headless_chromium import Browser, find_chromium  # noqa: E402
from serve_support import Checks, Server, default_model  # noqa: E402

SKIP = 77


class PacedProxy:
    """Forwards the browser's requests to jisu and releases each SSE event of a streamed reply
    only after `delay` seconds: the bundled model writes a whole reply within one frame of the
    page, and streaming can only be seen when the events arrive spread out. A browser that
    disconnects (the stop button) makes the proxy drop its connection to jisu too."""

    def __init__(self, server, delay=0.03):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                upstream = http.client.HTTPConnection(server.host, server.port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                        self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if response.getheader("Content-Type", "").startswith("text/event-stream"):
                        while line := response.readline():
                            self.wfile.write(line)
                            if line == b"\n":
                                self.wfile.flush()
                                time.sleep(proxy.delay)
                    else:
                        self.wfile.write(response.read())
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    upstream.close()

            do_GET = do_POST = forward

        self.delay = delay
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def set_field(page, field_id, value):
    page.evaluate(f"""(() => {{ const e = document.getElementById({json.dumps(field_id)});
        e.value = {json.dumps(str(value))}; e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()""")


def send(page, text):
    set_field(page, "prompt", text)
    page.evaluate("document.getElementById('send').click()")


# Records every text length of the newest reply as it changes, to prove it arrived in pieces.
WATCH_REPLY = """(() => {
  window.reply_lengths = [];
  new MutationObserver(() => {
    const replies = document.querySelectorAll('.message.assistant .content');
    const last = replies[replies.length - 1];
    if (last) window.reply_lengths.push(last.textContent.length);
  }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
})()"""
REPLY_DONE = "!document.getElementById('send').hidden && document.querySelector('.message.assistant:last-child .stats') !== null"

# Markdown cases with the HTML a reader expects, written by hand.
MARKDOWN_CASES = [
    ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
    ("**bold** and *it* and `a<b`", "<p><strong>bold</strong> and <em>it</em> and <code>a&lt;b</code></p>"),
    ("# Title\ntext", "<h1>Title</h1>\n<p>text</p>"),
    ("- one\n- two", "<ul><li>one</li><li>two</li></ul>"),
    ("2. b\n3. c", '<ol start="2"><li>b</li><li>c</li></ol>'),
    ("[site](https://example.com/a_b)",
     '<p><a href="https://example.com/a_b" target="_blank" rel="noopener noreferrer">site</a></p>'),
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    ("snake_case_name", "<p>snake_case_name</p>"),
    ("```python\nx = 1  # one\n```",
     '<pre><span class="language">python</span><button class="copy" type="button">Copy</button>'
     '<code class="language-python">x = <span class="tok-number">1</span>  <span class="tok-comment"># one</span>'
     "</code></pre>"),
    ("```\nopen fence <b>", '<pre><button class="copy" type="button">Copy</button><code>open fence &lt;b&gt;</code></pre>'),
    ("| a | b |\n|---|---|\n| 1 | 2 |",
     "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>"),
    ("> quoted", "<blockquote><p>quoted</p></blockquote>"),
]


def check_embedded_files(checks, server, source_dir):
    """Each file of src/server/web_ui is served byte for byte, with its type; nothing else is."""
    web_ui = os.path.join(source_dir, "src", "server", "web_ui")
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    for name in sorted(os.listdir(web_ui)):
        connection = server.connection()
        connection.request("GET", "/" if name == "index.html" else f"/ui/{name}")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        with open(os.path.join(web_ui, name), "rb") as source:
            expected = source.read()
        content_type = response.getheader("Content-Type", "")
        checks.check(response.status == 200 and body == expected
                     and content_type.startswith(types[os.path.splitext(name)[1]]),
                     f"{name} is served as built into the binary", f"{response.status} {content_type}")
    for path in ("/ui/missing.js", "/ui/index.html", "/ui/..%2fCMakeLists.txt", "/v1/models/no-such-model"):
        status, _ = server.request("GET", path)
        checks.check(status == 404, f"GET {path} is 404", str(status))


def main():
    jisu, source_dir = sys.argv[1], sys.argv[2]
    screenshot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
    if not find_chromium():
        print("skipped: no chromium on PATH (scripts/install_test_deps.sh installs the Debian package)")
        return SKIP
    checks = Checks("web_chat")
    model = default_model(source_dir)
    info = subprocess.run([jisu, "info", model], capture_output=True, text=True, check=True).stdout
    layers = int(re.search(r"block_count\s+(\d+)", info).group(1))
    context = int(re.search(r"context_length\s+(\d+)", info).group(1))
    server = Server(jisu, model)
    proxy = PacedProxy(server, delay=0 if screenshot else 0.03)
    try:
        check_embedded_files(checks, server, source_dir)
        with Browser() as browser:
            page = browser.page()
            url = f"http://127.0.0.1:{proxy.port}/"
            page.navigate(url)
            model_line = page.wait_for("document.querySelector('#model-info strong') && "
                                       "document.getElementById('model-info').textContent")
            checks.check("demo-shakespeare.q8_0" in model_line and f"{layers} layers" in model_line
                         and f"context {context}" in model_line and "llama" in model_line,
                         "the page shows the model's name, architecture, layers and context", model_line)
            checks.check(page.evaluate("document.getElementById('temperature').value") == "0.8",
                         "the sampling settings start from jisu's defaults (temperature 0.8)")

            rendered = page.evaluate("import('/ui/markdown.js').then(m => %s.map(m.render_markdown))"
                                     % json.dumps([source for source, _ in MARKDOWN_CASES]))
            for (source, expected), got in zip(MARKDOWN_CASES, rendered):
                checks.check(got == expected, f"markdown {source!r}", f"got {got!r}")

            # A greedy reply, streamed into the page, against the API's own non-streamed answer.
            set_field(page, "temperature", 0)
            set_field(page, "max_tokens", 60)
            page.evaluate(WATCH_REPLY)
            send(page, "ROMEO:")
            page.wait_for(REPLY_DONE, timeout=120)
            lengths = page.evaluate("window.reply_lengths")
            growing = sorted(set(length for length in lengths if length > 0))
            checks.check(len(growing) >= 3, "the reply appeared in pieces while streaming", f"lengths {growing}")
            stored = page.evaluate("JSON.parse(localStorage.getItem('jisu.conversations.v1'))")
            page_reply = stored[0]["messages"][-1]["content"] if stored else None
            sampling = {"temperature": 0, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1,
                        "max_tokens": 60}
            status, body = server.post("/v1/chat/completions",
                                       {"messages": [{"role": "user", "content": "ROMEO:"}], **sampling})
            api_reply = body["choices"][0]["message"]["content"] if status == 200 else None
            checks.check(api_reply and page_reply == api_reply, "the page's reply equals the API's greedy reply",
                         f"page {page_reply!r} api {api_reply!r}")
            shown = page.evaluate("document.querySelector('.message.assistant:last-child .content').textContent")
            first_words = " ".join((api_reply or "").split()[:3])
            checks.check(first_words and first_words.replace("*", "") in " ".join(shown.split()),
                         "the reply is shown in the page", f"shown {shown!r}")
            stats = page.evaluate("document.querySelector('.message.assistant:last-child .stats').textContent")
            checks.check("tokens/s" in stats and "finished" in stats, "the reply shows its speed", stats)

            # The stop button ends a long reply; the server frees the request.
            set_field(page, "temperature", 0.8)
            set_field(page, "max_tokens", 480)
            page.evaluate("document.getElementById('new-chat').click()")
            send(page, "JULIET:")
            page.wait_for("document.querySelector('.message.assistant .content')?.textContent.length > 20", timeout=60)
            page.evaluate("document.getElementById('stop').click()")
            page.wait_for(REPLY_DONE, timeout=30)
            stats = page.evaluate("document.querySelector('.message.assistant:last-child .stats').textContent")
            checks.check("stopped" in stats, "the stop button ends the reply", stats)
            length = page.evaluate("document.querySelector('.message.assistant .content').textContent.length")
            time.sleep(1.0)
            checks.check(page.evaluate("document.querySelector('.message.assistant .content').textContent.length")
                         == length, "a stopped reply stops growing")

            # Both conversations survive a reload.
            page.navigate(url)
            titles = page.wait_for("document.querySelectorAll('#conversations .title').length >= 2 && "
                                   "[...document.querySelectorAll('#conversations .title')].map(e => e.textContent)")
            checks.check(sorted(titles) == ["JULIET:", "ROMEO:"], "conversations are kept across a reload", titles)
            page.evaluate("[...document.querySelectorAll('#conversations .title')]"
                          ".find(e => e.textContent === 'ROMEO:').click()")
            reloaded = page.evaluate("document.querySelector('.message.assistant .content').textContent")
            checks.check(" ".join(reloaded.split()) == " ".join(shown.split()), "a kept conversation reopens")

            if screenshot:
                page.evaluate("document.getElementById('settings-toggle').click()")
                page.screenshot(screenshot)
                print(f"screenshot: {screenshot}")
    finally:
        proxy.close()
        server.kill()
    checks.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
