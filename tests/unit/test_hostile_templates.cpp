// Chat templates an attacker writes (issue 20's audit): each must end in a one-line jisu::Error
// naming the problem, quickly, instead of a crash, a hang or gigabytes. Every template here
// crashed, hung or exhausted memory before its fix; the expected message fragments are the
// limits that now stop them. Python's results for the two that must render are written out.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_prompt.h"
#include "chat/chat_template.h"
#include "core/error.h"

namespace jisu::test {
namespace {

std::string repeated(const std::string& piece, size_t count, const std::string& separator = "") {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += (i ? separator : "") + piece;
  return out;
}

std::string render(const std::string& source) {
  const nlohmann::ordered_json messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}});
  return ChatTemplate(source).render(messages, false, nlohmann::ordered_json::object());
}

struct HostileTemplate {
  const char* name;
  std::string source;
  const char* expected_error;
};

std::vector<HostileTemplate> hostile_templates() {
  return {
      {"recursive_loop", "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursive loop nested"},
      {"plus_chain", "{{ " + repeated("1", 30000, "+") + " }}", "expression is too long"},
      {"or_chain", "{{ " + repeated("0", 30000, " or ") + " }}", "expression is too long"},
      {"and_chain", "{{ " + repeated("1", 30000, " and ") + " }}", "expression is too long"},
      {"power_chain", "{{ " + repeated("1", 30000, "**") + " }}", "expression is too long"},
      {"attribute_chain", "{{ x" + repeated(".a", 30000) + " }}", "expression is too long"},
      {"subscript_chain", "{{ x" + repeated("[0]", 30000) + " }}", "expression is too long"},
      {"call_chain", "{{ x" + repeated("()", 30000) + " }}", "expression is too long"},
      {"conditional_chain", "{{ " + repeated("1 if 1 else ", 10000) + "1 }}", "expression is too long"},
      {"nested_list_compare",
       "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
       "{{ ns.x == ns.x }}",
       "nested more than 512 levels"},
      {"nested_list_destroy",
       "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% for j in range(10) %}"
       "{% set ns.x = [ns.x] %}{% endfor %}{% endfor %}",
       "nested more than 512 levels"},
      {"percent_width_overflow", "{{ '%99999999999999999999s' % 'a' }}", "format width too large"},
      {"format_index_overflow", "{{ '{99999999999999999999}'.format(1) }}", "out of range"},
      {"percent_width_5g", "{{ '%5000000000s' % 'a' }}", "format width too large"},
      {"unique_quadratic", "{{ range(100000)|unique|list|length }}", "evaluation budget"},
      {"indent_huge", "{% set s = 'a\\n' * 3000000 %}{{ s|indent(1048576)|length }}", "too large"},
      {"batch_huge", "{{ [1]|batch(10**12, 0)|list|length }}", "batch size is too large"},
      {"kept_big_strings",
       "{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = ns.l + ['a' * 6000000] %}"
       "{% endfor %}{{ ns.l|length }}",
       "MiB of strings and lists"},
      {"empty_nested_loops", "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
       "scopes"},
      {"oversized_template", repeated("{{ 1 }}", 200000), "more than 262144"},
  };
}

TEST(HostileTemplates, EachFailsWithAClearErrorWithinASecondOrTwo) {
  for (const HostileTemplate& hostile : hostile_templates()) {
    const auto started = std::chrono::steady_clock::now();
    try {
      render(hostile.source);
      ADD_FAILURE() << hostile.name << ": rendered without an error";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(hostile.expected_error), std::string::npos)
          << hostile.name << ": " << error.what();
      EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos) << hostile.name;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // Generous for sanitizer builds on a loaded machine; before the fixes these ran for minutes.
    EXPECT_LT(seconds, 10.0) << hostile.name;
  }
}

TEST(HostileTemplates, EmptyRepetitionAndNegativeStarWidthRenderAsPythonDoes) {
  // Python: '' * 10**18 == '' (at once); '%*s' % (-1, 'a') == 'a'; '%*s|' % (-3, 'a') == 'a  |'.
  EXPECT_EQ(render("{{ '' * 10**18 }}"), "");
  EXPECT_EQ(render("{{ '%*s' % (-1, 'a') }}"), "a");
  EXPECT_EQ(render("{{ '%*s|' % (-3, 'a') }}"), "a  |");
}

TEST(HostileTemplates, ALongSingleLineTemplateLexesInLinearTime) {
  // 240 KB on one line took tens of seconds when every token's column was counted from the
  // line start.
  const std::string source = repeated("{{ 1 }}", 34000);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(render(source).size(), 34000u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 10.0);
}

TEST(HostileTemplates, MessagesNestedPastTheLimitAreAnError) {
  nlohmann::ordered_json content = nlohmann::ordered_json::array();
  for (int i = 0; i < 600; ++i) content = nlohmann::ordered_json::array({content});
  const nlohmann::ordered_json messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", content}}});
  EXPECT_THROW(ChatTemplate("{{ messages }}").render(messages, false, nlohmann::ordered_json::object()), Error);
}

// 8. `jisu serve` probes the model's template at start-up: a hostile one must make requests
// fail, not the start.
TEST(HostileTemplates, AServerTemplateThatFailsEveryRenderStillLoads) {
  ChatPrompt chat(std::string("{% for x in [1] recursive %}{{ loop([1]) }}{{ bos_token }}{% endfor %}"), "<s>", "</s>");
  std::string prompt, error;
  EXPECT_FALSE(chat.render({{"user", "hi"}}, prompt, error));
  EXPECT_NE(error.find("recursive loop nested"), std::string::npos) << error;
}

}  // namespace
}  // namespace jisu::test
