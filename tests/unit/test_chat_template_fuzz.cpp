// Random mutations of the real chat templates (fixtures/chat-templates): byte flips towards
// Jinja's syntax characters, truncations, deletions, duplications and splices of one template
// into another. Each mutant goes through the same steps as ChatTemplate (UTF-8 check, newline
// normalisation, parse, render with a tool-calling conversation) and must either render or fail
// with a TemplateError -- never crash, hang or throw anything else. Render limits are lowered so
// a mutant that loops forever hits the step budget quickly. Fixed seed, bounded count.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "test_support.h"
#include "chat/jinja/json_bridge.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/renderer.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu::test {
namespace {

std::vector<std::string> load_templates() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(fixtures_dir() + "/chat-templates"))
    if (entry.path().extension() == ".jinja") paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> sources;
  for (const auto& path : paths) {
    const std::vector<char> bytes = read_bytes(path.string());
    sources.emplace_back(bytes.begin(), bytes.end());
  }
  return sources;
}

jinja::Dict render_context() {
  const nlohmann::ordered_json document = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris? 日本語 😀"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "{\"t\": 18}"},
      {"role": "assistant", "content": "18 degrees."}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"
  })");
  return jinja::value_from_json(document).as_dict();
}

// Characters that change a template's structure when they appear or disappear.
constexpr char kSyntax[] = "{}%#-+()[]|'\".,:=~!<> \n_0aez";

std::string mutate(const std::string& source, const std::vector<std::string>& all, std::mt19937& rng) {
  std::string out = source;
  const auto position = [&](size_t size) { return std::uniform_int_distribution<size_t>(0, size)(rng); };
  const int rounds = std::uniform_int_distribution<int>(1, 3)(rng);
  for (int round = 0; round < rounds; ++round) {
    switch (std::uniform_int_distribution<int>(0, 7)(rng)) {
      case 6: {  // change a letter or digit to another one: names, strings and numbers change
        const size_t at = position(out.empty() ? 0 : out.size() - 1);
        const size_t found = out.find_first_of("abcdefghijklmnopqrstuvwxyz0123456789", at);
        if (found != std::string::npos) out[found] = "aeiostxyz019"[std::uniform_int_distribution<int>(0, 11)(rng)];
        break;
      }
      case 7: {  // move a whole tag of another template in front of a tag of this one
        const std::string& other = all[std::uniform_int_distribution<size_t>(0, all.size() - 1)(rng)];
        const size_t begin = other.find('{', position(other.size()));
        if (begin == std::string::npos || begin + 1 >= other.size()) break;
        const char kind = other[begin + 1];
        if (kind != '%' && kind != '{') break;
        const size_t end = other.find(kind == '%' ? "%}" : "}}", begin + 2);
        const size_t target = out.find('{', position(out.size()));
        if (end == std::string::npos || target == std::string::npos) break;
        out.insert(target, other.substr(begin, end + 2 - begin));
        break;
      }
      case 0: {  // flip a byte to a syntax character (or, rarely, to any byte)
        if (out.empty()) break;
        const size_t at = position(out.size() - 1);
        out[at] = std::uniform_int_distribution<int>(0, 9)(rng) == 0
                      ? static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng))
                      : kSyntax[std::uniform_int_distribution<size_t>(0, sizeof kSyntax - 2)(rng)];
        break;
      }
      case 1: out.resize(position(out.size())); break;  // truncate
      case 2: {  // delete a span
        const size_t at = position(out.size());
        out.erase(at, std::uniform_int_distribution<size_t>(1, 40)(rng));
        break;
      }
      case 3: {  // duplicate a span in place
        const size_t at = position(out.size());
        out.insert(at, out.substr(at, std::uniform_int_distribution<size_t>(1, 80)(rng)));
        break;
      }
      default: {  // splice a span of another template in
        const std::string& other = all[std::uniform_int_distribution<size_t>(0, all.size() - 1)(rng)];
        const size_t from = position(other.size());
        out.insert(position(out.size()), other.substr(from, std::uniform_int_distribution<size_t>(1, 200)(rng)));
        break;
      }
    }
  }
  return out;
}

TEST(ChatTemplateFuzz, MutatedTemplatesRenderOrFailCleanly) {
  const std::vector<std::string> templates = load_templates();
  ASSERT_GE(templates.size(), 50u) << "chat-template fixtures missing from " << fixtures_dir();
  const jinja::Dict context = render_context();
  jinja::RenderLimits limits;
  limits.max_steps = 2'000'000;
  limits.max_output_bytes = size_t{1} << 20;
  std::tm now{};
  now.tm_year = 126;
  now.tm_mday = 15;

  std::mt19937 rng(20260115);
  size_t cases = 0, invalid_utf8 = 0, parse_errors = 0, render_errors = 0, rendered = 0;
  constexpr int kMutantsPerTemplate = 60;
  for (size_t t = 0; t < templates.size(); ++t) {
    for (int i = 0; i < kMutantsPerTemplate; ++i, ++cases) {
      const std::string source = mutate(templates[t], templates, rng);
      if (!jinja::utf8::is_valid(source)) {
        ++invalid_utf8;  // ChatTemplate rejects these before lexing
        continue;
      }
      std::unique_ptr<jinja::TemplateProgram> program;
      try {
        program = std::make_unique<jinja::TemplateProgram>(jinja::parse_template(jinja::normalize_template_source(source)));
      } catch (const jinja::TemplateError& error) {
        ++parse_errors;
        EXPECT_TRUE(error.located()) << "parse error without a location: " << error.what();
        continue;
      } catch (const std::exception& error) {
        ADD_FAILURE() << "template " << t << " mutant " << i << ": parser threw a non-TemplateError: " << error.what();
        continue;
      }
      try {
        jinja::Renderer renderer(*program, limits);
        (void)renderer.render(context, now);
        ++rendered;
      } catch (const jinja::TemplateError&) {
        ++render_errors;
      } catch (const std::exception& error) {
        ADD_FAILURE() << "template " << t << " mutant " << i << ": renderer threw a non-TemplateError: " << error.what();
      }
    }
  }
  std::printf("chat-template mutants: %zu (invalid UTF-8 %zu, parse errors %zu, render errors %zu, rendered %zu)\n",
              cases, invalid_utf8, parse_errors, render_errors, rendered);
  // The mutations must exercise both the parser's and the renderer's error paths and still let
  // many mutants through (a mutator that only ever breaks the syntax tests little).
  EXPECT_GT(parse_errors, cases / 20);
  EXPECT_GT(rendered, cases / 20);
}

}  // namespace
}  // namespace jisu::test
