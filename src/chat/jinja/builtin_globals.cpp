// The global functions a chat template can call: jinja2's defaults (range, dict, namespace,
// cycler, joiner, lipsum; jinja2/defaults.py) with the sandbox's range limit, plus the two
// Hugging Face transformers adds (raise_exception, strftime_now).
#include <ctime>

#include "chat/jinja/builtins.h"
#include "chat/jinja/renderer.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

namespace {

// jinja2.sandbox.MAX_RANGE: the sandbox refuses longer ranges.
constexpr int64_t kMaxRange = 100000;

int64_t integer_argument(const Value& value) {
  if (value.is_undefined()) fail(value.undefined_message());
  if (!value.is_integral()) fail("'" + type_name(value) + "' object cannot be interpreted as an integer");
  return value.as_int();
}

// Python range(); the result is a list (a template cannot tell the difference except by repr).
Value global_range(Renderer& renderer, CallArgs& args) {
  if (!args.keyword.empty()) fail("range() takes no keyword arguments");
  const size_t n = args.positional.size();
  if (n < 1 || n > 3) fail("range expected at least 1 argument, got " + std::to_string(n));
  int64_t start = 0, stop = 0, step = 1;
  if (n == 1) {
    stop = integer_argument(args.positional[0]);
  } else {
    start = integer_argument(args.positional[0]);
    stop = integer_argument(args.positional[1]);
    if (n == 3) step = integer_argument(args.positional[2]);
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  // Length computed in long double so extreme int64 bounds cannot overflow.
  const long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  long double count = 0;
  if ((step > 0 && span > 0) || (step < 0 && span < 0)) {
    const long double magnitude = step > 0 ? span : -span;
    const long double stride = step > 0 ? static_cast<long double>(step) : -static_cast<long double>(step);
    count = (magnitude + stride - 1) / stride;
    count = static_cast<long double>(static_cast<int64_t>(count));
  }
  if (count > kMaxRange)
    fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(kMaxRange) + ").");
  renderer.charge(static_cast<uint64_t>(count) >> 8);
  ValueList items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.push_back(Value::integer(start + i * step));
  return Value::list(std::move(items));
}

// Python dict(mapping_or_pairs, **kwargs), which namespace() shares.
Dict dict_from_arguments(const CallArgs& args, const char* name) {
  if (args.positional.size() > 1)
    fail(std::string(name) + " expected at most 1 argument, got " + std::to_string(args.positional.size()));
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.as_dict();
    } else {
      const ValueList items = iterate(source);
      for (size_t i = 0; i < items.size(); ++i) {
        const ValueList pair = iterate(items[i]);
        if (pair.size() != 2)
          fail("dictionary update sequence element #" + std::to_string(i) + " has length " +
               std::to_string(pair.size()) + "; 2 is required");
        if (!is_hashable(pair[0])) fail("unhashable type: '" + type_name(pair[0]) + "'");
        dict.set(pair[0], pair[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) dict.set(Value::string(key), value);
  return dict;
}

Value global_dict(Renderer&, CallArgs& args) { return Value::dict(dict_from_arguments(args, "dict")); }

Value global_namespace(Renderer& renderer, CallArgs& args) {
  Value ns = Value::make_namespace(dict_from_arguments(args, "namespace"));
  renderer.register_namespace(ns);
  return ns;
}

// jinja2.utils.Cycler: .next() returns the current item and advances, .current peeks,
// .reset() goes back to the first item.
class Cycler : public NativeObject, public std::enable_shared_from_this<Cycler> {
 public:
  explicit Cycler(ValueList items) : items_(std::move(items)) {}
  std::string type_name() const override { return "Cycler"; }
  Value attribute(const std::string& name) override {
    auto self = shared_from_this();
    if (name == "current") return items_[position_];
    if (name == "next")
      return Value::function("next", [self](Renderer&, CallArgs&) {
        Value item = self->items_[self->position_];
        self->position_ = (self->position_ + 1) % self->items_.size();
        return item;
      });
    if (name == "reset")
      return Value::function("reset", [self](Renderer&, CallArgs&) {
        self->position_ = 0;
        return Value::none();
      });
    return NativeObject::attribute(name);
  }

 private:
  ValueList items_;  // never empty
  size_t position_ = 0;
};

Value global_cycler(Renderer&, CallArgs& args) {
  if (!args.keyword.empty()) fail("cycler() takes no keyword arguments");
  if (args.positional.empty()) fail("at least one item has to be provided");
  return Value::object(std::make_shared<Cycler>(args.positional));
}

// jinja2.utils.Joiner: returns "" on the first call, the separator afterwards.
class Joiner : public NativeObject {
 public:
  explicit Joiner(Value separator) : separator_(std::move(separator)) {}
  std::string type_name() const override { return "Joiner"; }
  bool callable() const override { return true; }
  Value call(Renderer&, CallArgs&) override {
    if (!used_) {
      used_ = true;
      return Value::string("");
    }
    return separator_;
  }

 private:
  Value separator_;
  bool used_ = false;
};

Value global_joiner(Renderer&, CallArgs& args) {
  ArgumentBinder bind("joiner", args, {"sep"});
  return Value::object(std::make_shared<Joiner>(bind.get_or(0, Value::string(", "))));
}

Value global_lipsum(Renderer&, CallArgs&) { fail("lipsum() is not supported by jisu (its output is random)"); }

// transformers: raise_exception(message) raises jinja2's TemplateError(message).
Value global_raise_exception(Renderer&, CallArgs& args) {
  ArgumentBinder bind("raise_exception", args, {"message"}, 1);
  const Value& message = *bind.get(0);
  fail(message.is_string() ? message.as_string() : "raise_exception() called");
}

// transformers: strftime_now(format) == datetime.now().strftime(format). The renderer's pinned
// clock (context key "__now__") replaces now() so renders are reproducible.
Value global_strftime_now(Renderer& renderer, CallArgs& args) {
  ArgumentBinder bind("strftime_now", args, {"format"}, 1);
  const Value& format = *bind.get(0);
  if (!format.is_string()) fail("strftime() argument 1 must be str, not " + type_name(format));
  std::tm when{};
  if (renderer.now()) {
    when = *renderer.now();
  } else {
    const std::time_t now = std::time(nullptr);
    localtime_r(&now, &when);
  }
  const std::string& pattern = format.as_string();
  if (pattern.empty()) return Value::string("");
  // strftime reports 0 both for "too small" and for an empty result; grow a few times, then
  // accept the empty result.
  for (size_t size = 64 + pattern.size() * 4; size <= (size_t{1} << 20); size *= 4) {
    std::string out(size, '\0');
    const size_t written = std::strftime(out.data(), out.size(), pattern.c_str(), &when);
    if (written > 0) {
      out.resize(written);
      return Value::string(std::move(out));
    }
  }
  return Value::string("");
}

}  // namespace

Dict builtin_globals() {
  Dict globals;
  const auto add = [&](const char* name, Value (*function)(Renderer&, CallArgs&)) {
    globals.set(Value::string(name), Value::function(name, function));
  };
  add("range", global_range);
  add("dict", global_dict);
  add("namespace", global_namespace);
  add("cycler", global_cycler);
  add("joiner", global_joiner);
  add("lipsum", global_lipsum);
  add("raise_exception", global_raise_exception);
  add("strftime_now", global_strftime_now);
  return globals;
}

}  // namespace jisu::jinja
