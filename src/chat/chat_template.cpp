#include "chat/chat_template.h"

#include <ctime>
#include <optional>

#include "core/error.h"
#include "chat/jinja/json_bridge.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/renderer.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/utf8_text.h"

namespace jisu {

namespace {

// Reads `count` decimal digits at `pos`; nullopt unless all are digits.
std::optional<int> read_digits(std::string_view text, size_t& pos, size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += count;
  return value;
}

int days_in_month(int year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// "YYYY-MM-DD[(T| )HH[:MM[:SS[.f{1,6}]]][Z|(+|-)HH:MM]]" -> broken-down time with weekday and
// day of year filled in (strftime's %a/%A/%j need them). The subset of datetime.fromisoformat
// the reference accepts and a pinned clock needs; anything else is an error rather than a guess.
// A UTC offset is accepted and does not shift the fields (strftime prints them as written).
std::tm parse_pinned_clock(const std::string& text) {
  const auto bad = [&]() -> Error {
    return Error("invalid __now__ value '" + text + "'", "use YYYY-MM-DDTHH:MM:SS");
  };
  size_t pos = 0;
  const auto year = read_digits(text, pos, 4);
  if (!year || pos >= text.size() || text[pos++] != '-') throw bad();
  const auto month = read_digits(text, pos, 2);
  if (!month || pos >= text.size() || text[pos++] != '-') throw bad();
  const auto day = read_digits(text, pos, 2);
  if (!day || *year < 1 || *month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) throw bad();
  int fields[3] = {0, 0, 0};
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != ' ') throw bad();
    ++pos;
    int parsed = 0;
    for (; parsed < 3 && pos < text.size(); ++parsed) {
      if (parsed > 0 && text[pos++] != ':') throw bad();
      const auto field = read_digits(text, pos, 2);
      if (!field) throw bad();
      fields[parsed] = *field;
    }
    if (parsed == 0) throw bad();
    if (parsed == 3 && pos < text.size() && text[pos] == '.') {
      const size_t start = ++pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
      if (pos == start || pos - start > 6) throw bad();
    }
    if (pos < text.size() && text[pos] == 'Z') {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      ++pos;
      const auto hours = read_digits(text, pos, 2);
      if (!hours || pos >= text.size() || text[pos++] != ':') throw bad();
      const auto minutes = read_digits(text, pos, 2);
      if (!minutes || *hours > 23 || *minutes > 59) throw bad();
    }
    if (pos != text.size() || fields[0] > 23 || fields[1] > 59 || fields[2] > 59) throw bad();
  }
  std::tm when{};
  when.tm_year = *year - 1900;
  when.tm_mon = *month - 1;
  when.tm_mday = *day;
  when.tm_hour = fields[0];
  when.tm_min = fields[1];
  when.tm_sec = fields[2];
  // Normalise through UTC arithmetic (no time zone involved) to get tm_wday and tm_yday.
  const std::time_t seconds = timegm(&when);
  std::tm normalised{};
  gmtime_r(&seconds, &normalised);
  normalised.tm_isdst = 0;
  return normalised;
}

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source) {
  // The interpreter's invariant: every string it handles is valid UTF-8.
  if (!jinja::utf8::is_valid(source)) throw Error("chat template error: the template is not valid UTF-8");
  // Real templates are tens of kilobytes; the tokens of a multi-megabyte one alone take
  // hundreds of megabytes, so size is bounded before lexing.
  if (source.size() > kMaxTemplateBytes)
    throw Error("chat template error: the template has " + std::to_string(source.size()) + " bytes, more than " +
                std::to_string(kMaxTemplateBytes));
  try {
    program_ = std::make_unique<jinja::TemplateProgram>(
        jinja::parse_template(jinja::normalize_template_source(source)));
  } catch (const jinja::TemplateError& error) {
    throw jinja::to_jisu_error(error);
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& context) const {
  if (!messages.is_array()) throw Error("chat messages must be a JSON list of message objects");
  if (!context.is_null() && !context.is_object()) throw Error("chat template context must be a JSON object");
  std::optional<std::tm> now;
  jinja::Dict variables;
  // Converting the input can fail too (nesting past 512): a TemplateError like any other.
  try {
    if (context.is_object()) {
      if (auto it = context.find("__now__"); it != context.end() && it->is_string())
        now = parse_pinned_clock(it->get<std::string>());
      for (const auto& [key, value] : context.items())
        variables.set(jinja::Value::string(key), jinja::value_from_json(value));
    }
    variables.set(jinja::Value::string("messages"), jinja::value_from_json(messages));
    variables.set(jinja::Value::string("add_generation_prompt"), jinja::Value::boolean(add_generation_prompt));
    jinja::Renderer renderer(*program_);
    return renderer.render(variables, now);
  } catch (const jinja::TemplateError& error) {
    throw jinja::to_jisu_error(error);
  }
}

std::string render_chat(std::string_view template_source, const nlohmann::ordered_json& messages_doc,
                        bool add_generation_prompt, const nlohmann::ordered_json& extra_context) {
  if (!extra_context.is_null() && !extra_context.is_object()) throw Error("chat template context must be a JSON object");
  nlohmann::ordered_json messages = messages_doc;
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  if (messages_doc.is_object()) {
    messages = messages_doc.contains("messages") ? messages_doc["messages"] : nlohmann::ordered_json::array();
    for (const auto& [key, value] : messages_doc.items())
      if (key != "messages") context[key] = value;
  }
  if (extra_context.is_object())
    for (const auto& [key, value] : extra_context.items()) context[key] = value;
  return ChatTemplate(template_source).render(messages, add_generation_prompt, context);
}

}  // namespace jisu
