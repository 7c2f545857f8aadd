#pragma once
// The interpreter's value: the subset of Python objects a chat template can see or build.
//
//   Undefined  jinja2's Undefined: a missing variable/attribute/key. Prints as "", is falsy,
//              iterates as empty, compares equal only to another Undefined; any other use
//              (arithmetic, attribute access, calling, ...) is an error carrying its message.
//   None, Bool, Int (int64; Python's unbounded ints overflow into an error), Float (double)
//   String     UTF-8 text; `markup` marks markupsafe.Markup (results of `safe`/`escape`), which
//              escapes the plain strings it is concatenated with via `+` -- jinja2 behaviour that
//              real templates (e.g. functionary) depend on.
//   List, Tuple, Dict (insertion-ordered, Python key equality: 1 == 1.0 == True)
//   Namespace  jinja2's namespace(): the one mutable object (`{% set ns.attr = ... %}`).
//   Function   macros, builtin globals and bound methods ("abc".upper).
//   Object     host objects with attributes (loop, cycler, joiner) and single-pass iterators
//              (the generators jinja2's map/select/unique/... filters return).
//
// Values are cheap to copy: scalars inline, everything else behind a shared pointer. Sharing is
// Python's reference semantics; only Namespace (and the host objects) are ever mutated, since
// the sandbox jinja2 runs chat templates in forbids mutating lists and dicts.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jisu::jinja {

class Renderer;
class Value;

enum class ValueKind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Function, Object };

using ValueList = std::vector<Value>;

// The arguments of one call, as written: positional first, then keyword (in order).
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Function {
  std::string name;
  bool is_macro = false;
  std::function<Value(Renderer&, CallArgs&)> invoke;
};

// Insertion-ordered mapping. Keys use Python equality (see values_equal); lookups are linear,
// which is the right trade-off for the small dicts of chat messages and tool schemas.
class Dict {
 public:
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);  // replaces an equal key in place, else appends
  // Defined after Value: clang instantiates vector<pair<Value, Value>> where they are defined.
  size_t size() const;
  bool empty() const;
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<Value, Value>> entries_;
};

struct Namespace {
  Dict attributes;
};

// Host objects exposing attributes and optionally a call (loop, cycler, joiner).
class NativeObject {
 public:
  virtual ~NativeObject() = default;
  virtual std::string type_name() const = 0;
  virtual Value attribute(const std::string& name);  // Undefined when absent
  virtual bool callable() const { return false; }
  virtual Value call(Renderer& renderer, CallArgs& args);
  virtual std::string repr() const;
  // Python iterators (generators from map/select/..., reversed()): iterable once.
  virtual bool iterable() const { return false; }
  // The items not yet consumed; afterwards the iterator is exhausted. Only when iterable().
  virtual std::vector<Value> take_items();
};

class Value {
 public:
  Value() = default;  // Undefined with no message
  static Value undefined(std::string message);
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value string(std::string value, bool markup = false);
  static Value list(ValueList items);
  static Value tuple(ValueList items);
  static Value dict(Dict dict);
  static Value make_namespace(Dict attributes);
  static Value function(std::string name, std::function<Value(Renderer&, CallArgs&)> invoke, bool is_macro = false);
  static Value object(std::shared_ptr<NativeObject> object);

  // Lists, tuples and dicts inside one another at most this deep: comparing, printing and
  // destroying values recurse, so a template nesting a list 100,000 times (through a
  // namespace, one level per loop iteration) must fail when it builds it, not crash later.
  static constexpr uint16_t kMaxDepth = 512;
  // 0 for scalars, 1 + the deepest element for containers (namespaces count 1: they are
  // mutable, their contents are checked where they are built).
  uint16_t depth() const { return depth_; }

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::Undefined; }
  bool is_none() const { return kind_ == ValueKind::None; }
  bool is_bool() const { return kind_ == ValueKind::Bool; }
  bool is_int() const { return kind_ == ValueKind::Int; }
  bool is_float() const { return kind_ == ValueKind::Float; }
  // Python's numbers.Number (bool is an int subclass in Python).
  bool is_number() const { return kind_ == ValueKind::Int || kind_ == ValueKind::Float || kind_ == ValueKind::Bool; }
  // int or bool: what Python accepts as an integer (indices, repeat counts).
  bool is_integral() const { return kind_ == ValueKind::Int || kind_ == ValueKind::Bool; }
  bool is_string() const { return kind_ == ValueKind::String; }
  bool is_markup() const { return kind_ == ValueKind::String && markup_; }
  bool is_list() const { return kind_ == ValueKind::List; }
  bool is_tuple() const { return kind_ == ValueKind::Tuple; }
  bool is_list_or_tuple() const { return kind_ == ValueKind::List || kind_ == ValueKind::Tuple; }
  bool is_dict() const { return kind_ == ValueKind::Dict; }
  bool is_namespace() const { return kind_ == ValueKind::Namespace; }
  bool is_function() const { return kind_ == ValueKind::Function; }
  bool is_object() const { return kind_ == ValueKind::Object; }

  bool as_bool() const { return scalar_.boolean; }
  int64_t as_int() const { return kind_ == ValueKind::Bool ? (scalar_.boolean ? 1 : 0) : scalar_.integer; }
  double as_float() const;  // any number
  const std::string& as_string() const { return *static_cast<const std::string*>(pointer_.get()); }
  const ValueList& items() const { return *static_cast<const ValueList*>(pointer_.get()); }
  const Dict& as_dict() const { return *static_cast<const Dict*>(pointer_.get()); }
  Namespace& as_namespace() const { return *static_cast<Namespace*>(pointer_.get()); }
  const Function& as_function() const { return *static_cast<const Function*>(pointer_.get()); }
  NativeObject& as_object() const { return *static_cast<NativeObject*>(pointer_.get()); }
  // The message an Undefined raises when used ("'x' is undefined").
  std::string undefined_message() const;
  // Object identity for Python's `is` (`sameas` test): the shared payload, or null for scalars.
  const void* identity() const { return pointer_.get(); }

 private:
  ValueKind kind_ = ValueKind::Undefined;
  bool markup_ = false;
  uint16_t depth_ = 0;
  union Scalar {
    bool boolean;
    int64_t integer;
    double floating;
  } scalar_{};
  // String: std::string; List/Tuple: ValueList; Dict: Dict; Namespace: Namespace;
  // Function: Function; Object: NativeObject; Undefined: its message (std::string, or null).
  // The kind says which; the pointer is only ever cast back to the type it was created from.
  std::shared_ptr<void> pointer_;
};

inline size_t Dict::size() const { return entries_.size(); }
inline bool Dict::empty() const { return entries_.empty(); }

// Python truthiness.
bool truthy(const Value& value);
// Python ==. Never throws.
bool values_equal(const Value& a, const Value& b);
// Python a < b; throws TemplateError for pairs Python cannot order ("'<' not supported between
// instances of 'str' and 'int'") and for Undefined. `op` names the operator for that message.
bool less_than(const Value& a, const Value& b, const char* op = "<");
// Whether Python could use the value as a dict key / set member.
bool is_hashable(const Value& value);
// Python type name for messages: "str", "int", "dict", "NoneType", ...
std::string type_name(const Value& value);
// Python `len()`, or -1 for values without a length.
int64_t python_length(const Value& value);

}  // namespace jisu::jinja
