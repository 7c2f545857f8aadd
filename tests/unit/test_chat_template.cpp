// ChatTemplate / render_chat (chat/chat_template.h) and `jisu chat-template -m`: the
// document and context rules, the pinned clock, one-line located errors, and the BOS/EOS texts
// a GGUF model brings. Expected strings are written out by hand from the documented rules
// (jinja2 parity over the real templates is tests/e2e/chat_templates.sh).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "data/tokenizer/tokenizer_fixtures.h"
#include "format/gguf_writer.h"
#include "test_support.h"
#include "chat/chat_template.h"

namespace jisu::test {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kTemplate =
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}";

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ChatTemplate, RendersListOfMessagesWithGenerationPrompt) {
  const json messages = json::parse(R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])");
  EXPECT_EQ(render_chat(kTemplate, messages, false), "user: hi\nassistant: yo\n");
  EXPECT_EQ(render_chat(kTemplate, messages, true), "user: hi\nassistant: yo\nassistant:");
}

TEST(ChatTemplate, DocumentKeysJoinContextAndExplicitContextWins) {
  const json document = json::parse(R"({"messages": [{"role": "user", "content": "q"}], "name": "doc", "n": 1})");
  const char* source = "{{ messages|length }} {{ name }} {{ n }} {{ add_generation_prompt }}";
  EXPECT_EQ(render_chat(source, document, false), "1 doc 1 False");
  EXPECT_EQ(render_chat(source, document, true, json::parse(R"({"name": "ctx"})")), "1 ctx 1 True");
  // `messages` and `add_generation_prompt` always come from the call, never the context.
  EXPECT_EQ(render_chat(source, document, false, json::parse(R"({"messages": [], "add_generation_prompt": true})")),
            "1 doc 1 False");
  EXPECT_EQ(render_chat("{{ messages }}", json::parse(R"({"other": 1})"), false), "[]");
}

TEST(ChatTemplate, PinnedClockDrivesStrftimeNow) {
  const json context = json::parse(R"({"__now__": "2026-01-15T10:30:05"})");
  EXPECT_EQ(render_chat("{{ strftime_now('%Y-%m-%d %H:%M:%S %A %j %b %d') }}|{{ __now__ }}", json::array(), false, context),
            "2026-01-15 10:30:05 Thursday 015 Jan 15|2026-01-15T10:30:05");
  EXPECT_EQ(render_chat("{{ strftime_now('%d %B %Y') }}", json::array(), false, json::parse(R"({"__now__": "2024-02-29"})")),
            "29 February 2024");
  EXPECT_EQ(render_chat("{{ strftime_now('%H:%M') }}", json::array(), false,
                        json::parse(R"({"__now__": "2024-02-29T23:59:00+05:30"})")),
            "23:59");
  for (const char* bad : {"2026-02-30T00:00:00", "2026-1-15", "yesterday", "2026-01-15T25:00:00", "2026-01-15T10:30:00+1"}) {
    const json bad_context = json{{"__now__", bad}};
    EXPECT_NE(error_of([&] { render_chat("x", json::array(), false, bad_context); }).find("invalid __now__"),
              std::string::npos)
        << bad;
  }
}

TEST(ChatTemplate, ErrorsAreOneLineWithLineAndColumn) {
  EXPECT_EQ(error_of([] { ChatTemplate("line one\n{{ messages[0] }\n"); }),
            "chat template error at line 2, column 16: unexpected '}'");
  const std::string raised = error_of([] {
    render_chat("{% if messages[0].role != 'user' %}\n  {{ raise_exception('Only user\nroles') }}{% endif %}",
                json::parse(R"([{"role": "system", "content": ""}])"), false);
  });
  EXPECT_EQ(raised, "chat template error at line 2, column 21: Only user\\nroles");
  EXPECT_NE(error_of([] { render_chat("{{ x", json::array(), false); }).find("chat template error at line 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { ChatTemplate(std::string("\xff{{ x }}")); }).find("not valid UTF-8"), std::string::npos);
  EXPECT_NE(error_of([] { render_chat("x", json::parse(R"({"messages": 3})"), false); }).find("must be a JSON list"),
            std::string::npos);
}

// Runs `jisu ARGS` and returns {exit status, stdout}.
std::pair<int, std::string> run_jisu(const std::string& args) {
  const std::string command = jisu_binary() + " " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, ""};
  std::string out;
  std::array<char, 4096> buffer;
  for (size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// A vocabulary-only GGUF (llama-spm: BOS "<s>", EOS "</s>") given a chat template.
TEST(ChatTemplateCommand, ModelTemplateGetsBosAndEosTexts) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("jisu-chat-template-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string model = (dir / "with-template.gguf").string();
  const std::string bare = (dir / "without-template.gguf").string();
  {
    const std::unique_ptr<gguf::GgufFile> vocabulary = gguf::GgufFile::open(vocab_path("llama-spm"));
    gguf::GgufWriter writer;
    writer.copy_metadata(*vocabulary);
    writer.write(bare);
    writer.set_string("tokenizer.chat_template",
                      "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}");
    writer.write(model);
  }
  const std::string messages = (dir / "messages.json").string();
  std::ofstream(messages) << R"([{"role": "user", "content": "héllo"}, {"role": "assistant", "content": "ok"}])";
  const std::string context = (dir / "context.json").string();
  std::ofstream(context) << R"({"eos_token": "<END>"})";

  EXPECT_EQ(run_jisu("chat-template -m " + model + " --messages " + messages), std::make_pair(0, std::string("<s>[héllo][ok]</s>")));
  EXPECT_EQ(run_jisu("chat-template -m " + model + " --messages " + messages + " --context " + context),
            std::make_pair(0, std::string("<s>[héllo][ok]<END>")));
  EXPECT_EQ(run_jisu("chat-template -m " + bare + " --messages " + messages).first, 1);
  EXPECT_EQ(run_jisu("chat-template --messages " + messages).first, 1);
  EXPECT_EQ(run_jisu("chat-template -m " + model + " --messages " + (dir / "missing.json").string()).first, 1);
  std::ofstream(context) << "{not json";
  EXPECT_EQ(run_jisu("chat-template -m " + model + " --messages " + messages + " --context " + context).first, 1);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace jisu::test
