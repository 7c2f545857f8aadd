#pragma once
// Executes a parsed template against a context, reproducing jinja2's runtime semantics:
//
// Scoping (what jinja2's compiler generates, checked against jinja2 itself):
//   * the template's top level, `if` branches and `{% set %}` at top level share one scope;
//   * every iteration of a `for` loop gets a fresh scope whose parent is the loop's scope, so
//     assignments inside a loop are invisible after it -- and even in the next iteration;
//   * macro bodies, caller bodies (`{% call %}`, `{% generation %}`), `{% set %}` blocks,
//     `{% filter %}` blocks and `{% with %}` get their own scope;
//   * macros are closures: names they do not assign resolve, at call time, in the scope where
//     the macro was defined (so a macro sees top-level variables set after its definition);
//   * lookups walk scope -> parents -> render context -> globals; misses are Undefined.
//
// Limits (hostile templates must fail cleanly, never hang or crash): macro call depth,
// evaluation steps, and size of any output buffer are bounded; exceeding one is a TemplateError.
#include <ctime>
#include <deque>
#include <optional>
#include <string>

#include "chat/jinja/ast.h"
#include "chat/jinja/value.h"

namespace jisu::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{8} << 20;
  uint64_t max_steps = 50'000'000;  // expression evaluations + statements + loop iterations
  int max_call_depth = 100;         // nested macro/caller calls, and recursive loop levels
  size_t max_scopes = 200'000;      // variable scopes of one render (each loop iteration makes one)
  // Bytes of strings and list slots that operators, filters and calls build, summed over the
  // render: values kept alive (a list of big strings grown in a loop) cannot pass it, so a
  // render's memory stays near this plus max_output_bytes plus the copies of one value being
  // built (operators.h's kMaxBuiltSize). At 8 MiB each, the worst template measured (valgrind
  // massif: a string at the limit, then concatenated) peaks at about 35 MB of heap, under the
  // 64 MB a hostile template may cost. A real prompt is far smaller (128k tokens are ~0.5 MB).
  size_t max_built_bytes = size_t{8} << 20;
};

// One level of variables. Scopes live in the renderer's arena for the whole render, so
// closures (macros) can hold plain pointers to them.
class Scope {
 public:
  explicit Scope(Scope* parent) : parent_(parent) {}
  // Walks this scope and its parents.
  const Value* find(std::string_view name) const;
  // Binds in this scope (never in a parent).
  void set(const std::string& name, Value value);
  Scope* parent() const { return parent_; }

 private:
  Scope* parent_;
  std::vector<std::pair<std::string, Value>> variables_;
};

class Renderer {
 public:
  Renderer(const TemplateProgram& program, RenderLimits limits = {});
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Renders the template once. `context` holds the top-level variables; `now` pins the clock
  // read by strftime_now() (local time when absent).
  std::string render(const Dict& context, std::optional<std::tm> now);

  // ---- services for builtins ----
  Value call(const Value& callee, CallArgs& args);
  Value apply_filter(const std::string& name, const Value& value, CallArgs& args);
  bool apply_test(const std::string& name, const Value& value, CallArgs& args);
  const std::optional<std::tm>& now() const { return now_; }
  // Namespaces can reference themselves; they are cleared after rendering to break the cycles.
  void register_namespace(const Value& ns);
  // Accounts for `units` of work (about 256 bytes processed each) against the step budget.
  void charge(uint64_t units);
  // Adds what `result` holds to the built-bytes budget (RenderLimits::max_built_bytes).
  Value charge_built(Value result);

 private:
  enum class Flow { Normal, Break, Continue };
  class LoopObject;
  friend class LoopObject;

  Flow execute_body(const Body& body, Scope* scope, std::string& out);
  Flow execute(const Stmt& stmt, Scope* scope, std::string& out);
  Flow execute_for(const ForStmt& stmt, Scope* scope, std::string& out);
  Flow run_loop(const ForStmt& stmt, ValueList items, Scope* scope, std::string& out, int64_t depth);
  void assign(const AssignTarget& target, const Value& value, Scope* scope);
  std::string render_block(const Body& body, Scope* parent);

  Value evaluate(const Expr& expr, Scope* scope);
  Value evaluate_filter(const FilterExpr& filter, Scope* scope, const Value* block_value);
  Value evaluate_test(const TestExpr& test, Scope* scope);
  Value evaluate_call(const CallExpr& call, Scope* scope, const Value* caller);
  CallArgs evaluate_arguments(const CallArguments& arguments, Scope* scope);
  Value lookup(const std::string& name, Scope* scope) const;

  Value make_macro(std::shared_ptr<const MacroDefinition> macro, Scope* closure);
  Value invoke_macro(const MacroDefinition& macro, Scope* closure, CallArgs& args);

  Scope* new_scope(Scope* parent);
  void step();
  void append_output(std::string& out, std::string_view text);

  const TemplateProgram& program_;
  RenderLimits limits_;
  std::deque<Scope> scopes_;  // arena: every scope of one render; pointers stay valid
  Dict globals_;
  std::optional<std::tm> now_;
  uint64_t steps_ = 0;
  size_t built_bytes_ = 0;
  int call_depth_ = 0;
  std::vector<Value> namespaces_;
};

}  // namespace jisu::jinja
