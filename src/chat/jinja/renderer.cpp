#include "chat/jinja/renderer.h"

#include "chat/jinja/builtins.h"
#include "chat/jinja/operators.h"
#include "chat/jinja/python_repr.h"
#include "chat/jinja/template_error.h"
#include "chat/jinja/value_access.h"

namespace jisu::jinja {

// ---- Scope ------------------------------------------------------------------------------

const Value* Scope::find(std::string_view name) const {
  for (const Scope* scope = this; scope; scope = scope->parent_)
    for (const auto& [key, value] : scope->variables_)
      if (key == name) return &value;
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [key, existing] : variables_) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  variables_.emplace_back(name, std::move(value));
}

// ---- loop ---------------------------------------------------------------------------------

// jinja2's LoopContext: `loop.index`, `loop.cycle(...)`, `loop(children)` for recursive loops.
class Renderer::LoopObject : public NativeObject, public std::enable_shared_from_this<LoopObject> {
 public:
  LoopObject(ValueList items, int64_t depth, const ForStmt* recursive_loop, Scope* loop_scope)
      : items_(std::move(items)), depth_(depth), recursive_loop_(recursive_loop), loop_scope_(loop_scope) {}

  void set_index(size_t index) { index_ = index; }

  std::string type_name() const override { return "LoopContext"; }

  Value attribute(const std::string& name) override {
    const auto length = static_cast<int64_t>(items_.size());
    const auto index = static_cast<int64_t>(index_);
    if (name == "index") return Value::integer(index + 1);
    if (name == "index0") return Value::integer(index);
    if (name == "revindex") return Value::integer(length - index);
    if (name == "revindex0") return Value::integer(length - index - 1);
    if (name == "first") return Value::boolean(index == 0);
    if (name == "last") return Value::boolean(index == length - 1);
    if (name == "length") return Value::integer(length);
    if (name == "depth") return Value::integer(depth_);
    if (name == "depth0") return Value::integer(depth_ - 1);
    if (name == "previtem")
      return index > 0 ? items_[index_ - 1] : Value::undefined("there is no previous item");
    if (name == "nextitem")
      return index + 1 < length ? items_[index_ + 1] : Value::undefined("there is no next item");
    if (name == "cycle") {
      auto self = shared_from_this();
      return Value::function("cycle", [self](Renderer&, CallArgs& args) -> Value {
        if (args.positional.empty()) fail("no items for cycling given");
        return args.positional[self->index_ % args.positional.size()];
      });
    }
    if (name == "changed") {
      auto self = shared_from_this();
      return Value::function("changed", [self](Renderer&, CallArgs& args) -> Value {
        Value current = Value::tuple(args.positional);
        if (self->has_changed_value_ && values_equal(self->last_changed_value_, current)) return Value::boolean(false);
        self->has_changed_value_ = true;
        self->last_changed_value_ = current;
        return Value::boolean(true);
      });
    }
    return NativeObject::attribute(name);
  }

  bool callable() const override { return true; }

  Value call(Renderer& renderer, CallArgs& args) override {
    if (!recursive_loop_) fail("the loop must be marked as 'recursive' to call it");
    if (args.positional.size() != 1 || !args.keyword.empty()) fail("loop() takes exactly one argument");
    std::string out;
    renderer.run_loop(*recursive_loop_, iterate(args.positional[0]), loop_scope_, out, depth_ + 1);
    return Value::string(std::move(out));
  }

  std::string repr() const override {
    return "<LoopContext " + std::to_string(index_ + 1) + "/" + std::to_string(items_.size()) + ">";
  }

 private:
  ValueList items_;
  size_t index_ = 0;
  int64_t depth_;
  const ForStmt* recursive_loop_;  // null unless `recursive`
  Scope* loop_scope_;
  bool has_changed_value_ = false;
  Value last_changed_value_;
};

// ---- Renderer -----------------------------------------------------------------------------

Renderer::Renderer(const TemplateProgram& program, RenderLimits limits)
    : program_(program), limits_(limits), globals_(builtin_globals()) {}

Renderer::~Renderer() {
  for (Value& ns : namespaces_) ns.as_namespace().attributes = Dict();
}

Scope* Renderer::new_scope(Scope* parent) {
  // Scopes live until the render ends (closures point at them): bound their number, or an
  // empty 100k x 100k loop holds gigabytes of them long before the step budget runs out.
  if (scopes_.size() >= limits_.max_scopes)
    fail("the template made more than " + std::to_string(limits_.max_scopes) +
         " scopes (loop iterations, calls and blocks)");
  scopes_.emplace_back(parent);
  return &scopes_.back();
}

void Renderer::step() {
  if (++steps_ > limits_.max_steps)
    fail("the template exceeded its evaluation budget of " + std::to_string(limits_.max_steps) + " steps");
}

void Renderer::charge(uint64_t units) {
  steps_ += units;
  if (steps_ > limits_.max_steps)
    fail("the template exceeded its evaluation budget of " + std::to_string(limits_.max_steps) + " steps");
}

Value Renderer::charge_built(Value result) {
  if (result.is_string()) built_bytes_ += result.as_string().size();
  else if (result.is_list_or_tuple()) built_bytes_ += result.items().size() * sizeof(Value);
  if (built_bytes_ > limits_.max_built_bytes)
    fail("the template built more than " + std::to_string(limits_.max_built_bytes >> 20) +
         " MiB of strings and lists");
  return result;
}

void Renderer::register_namespace(const Value& ns) { namespaces_.push_back(ns); }

void Renderer::append_output(std::string& out, std::string_view text) {
  if (out.size() + text.size() > limits_.max_output_bytes)
    fail("the rendered output exceeds " + std::to_string(limits_.max_output_bytes >> 20) + " MiB");
  charge(text.size() >> 8);
  out += text;
}

std::string Renderer::render(const Dict& context, std::optional<std::tm> now) {
  now_ = now;
  Scope* globals = new_scope(nullptr);
  for (const auto& [key, value] : globals_.entries()) globals->set(key.as_string(), value);
  Scope* root = new_scope(globals);
  for (const auto& [key, value] : context.entries())
    if (key.is_string()) root->set(key.as_string(), value);
  std::string out;
  execute_body(program_.body, root, out);
  return out;
}

Value Renderer::lookup(const std::string& name, Scope* scope) const {
  if (const Value* found = scope->find(name)) return *found;
  return Value::undefined("'" + name + "' is undefined");
}

// ---- statements ---------------------------------------------------------------------------

Renderer::Flow Renderer::execute_body(const Body& body, Scope* scope, std::string& out) {
  for (const StmtPtr& stmt : body) {
    const Flow flow = execute(*stmt, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

std::string Renderer::render_block(const Body& body, Scope* parent) {
  std::string out;
  execute_body(body, new_scope(parent), out);
  return out;
}

Renderer::Flow Renderer::execute(const Stmt& stmt, Scope* scope, std::string& out) {
  try {
    step();
    switch (stmt.kind) {
      case StmtKind::Text: append_output(out, static_cast<const TextStmt&>(stmt).text); return Flow::Normal;
      case StmtKind::Output: {
        const Value value = evaluate(*static_cast<const OutputStmt&>(stmt).expr, scope);
        if (value.is_string()) append_output(out, value.as_string());
        else append_output(out, to_str(value));
        return Flow::Normal;
      }
      case StmtKind::If: {
        const auto& node = static_cast<const IfStmt&>(stmt);
        for (const auto& [test, branch] : node.branches)
          if (truthy(evaluate(*test, scope))) return execute_body(branch, scope, out);
        return execute_body(node.else_body, scope, out);
      }
      case StmtKind::For: return execute_for(static_cast<const ForStmt&>(stmt), scope, out);
      case StmtKind::Set: {
        const auto& node = static_cast<const SetStmt&>(stmt);
        assign(node.target, evaluate(*node.value, scope), scope);
        return Flow::Normal;
      }
      case StmtKind::SetBlock: {
        const auto& node = static_cast<const SetBlockStmt&>(stmt);
        Scope* block_scope = new_scope(scope);
        std::string text;
        const Flow flow = execute_body(node.body, block_scope, text);
        if (flow != Flow::Normal) return flow;  // `break` inside the block leaves the loop unassigned
        Value value = Value::string(std::move(text));
        if (node.filter) value = evaluate_filter(static_cast<const FilterExpr&>(*node.filter), block_scope, &value);
        assign(node.target, value, scope);
        return Flow::Normal;
      }
      case StmtKind::Macro: {
        const auto& node = static_cast<const MacroStmt&>(stmt);
        scope->set(node.macro->name, make_macro(node.macro, scope));
        return Flow::Normal;
      }
      case StmtKind::CallBlock: {
        const auto& node = static_cast<const CallBlockStmt&>(stmt);
        const Value caller = make_macro(node.caller, scope);
        const Value result = evaluate_call(*node.call, scope, &caller);
        append_output(out, to_str(result));
        return Flow::Normal;
      }
      case StmtKind::FilterBlock: {
        const auto& node = static_cast<const FilterBlockStmt&>(stmt);
        Scope* block_scope = new_scope(scope);
        std::string text;
        const Flow flow = execute_body(node.body, block_scope, text);
        if (flow != Flow::Normal) return flow;
        const Value body_value = Value::string(std::move(text));
        append_output(out, to_str(evaluate_filter(static_cast<const FilterExpr&>(*node.filter), block_scope, &body_value)));
        return Flow::Normal;
      }
      case StmtKind::With: {
        const auto& node = static_cast<const WithStmt&>(stmt);
        Scope* with_scope = new_scope(scope);
        for (const auto& [target, value] : node.assignments) assign(target, evaluate(*value, scope), with_scope);
        return execute_body(node.body, with_scope, out);
      }
      case StmtKind::Scope: {
        // `{% generation %}` is a call block in transformers: its body is a caller macro.
        if (++call_depth_ > limits_.max_call_depth) fail("maximum macro call depth exceeded");
        std::string text = render_block(static_cast<const ScopeStmt&>(stmt).body, scope);
        --call_depth_;
        append_output(out, text);
        return Flow::Normal;
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  } catch (TemplateError& error) {
    error.locate(stmt.where);
    throw;
  }
}

Renderer::Flow Renderer::execute_for(const ForStmt& stmt, Scope* scope, std::string& out) {
  ValueList items = iterate(evaluate(*stmt.iterable, scope));
  if (stmt.filter) {
    // jinja2 filters lazily while iterating; the body cannot influence the filter through
    // loop-local assignments, so filtering first gives the same items (and loop.length).
    ValueList kept;
    for (Value& item : items) {
      step();
      Scope* test_scope = new_scope(scope);
      assign(stmt.target, item, test_scope);
      if (truthy(evaluate(*stmt.filter, test_scope))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  return run_loop(stmt, std::move(items), scope, out, 1);
}

Renderer::Flow Renderer::run_loop(const ForStmt& stmt, ValueList items, Scope* scope, std::string& out, int64_t depth) {
  // loop(...) in a recursive loop recurses here: each level counts as a call, so loops and
  // macros together stay within max_call_depth.
  struct RecursionGuard {
    int& depth;
    bool counted;
    ~RecursionGuard() { depth -= counted ? 1 : 0; }
  } guard{call_depth_, depth > 1};
  if (guard.counted && ++call_depth_ > limits_.max_call_depth)
    fail("recursive loop nested more than " + std::to_string(limits_.max_call_depth) + " calls deep");
  if (items.empty()) {
    // `else` runs when nothing was iterated. A `break`/`continue` in it belongs to an enclosing
    // loop (the parser allows it only there), so its flow is passed on.
    return execute_body(stmt.else_body, new_scope(scope), out);
  }
  auto loop = std::make_shared<LoopObject>(items, depth, stmt.recursive ? &stmt : nullptr, scope);
  const Value loop_value = Value::object(loop);
  for (size_t i = 0; i < items.size(); ++i) {
    step();
    loop->set_index(i);
    Scope* iteration = new_scope(scope);
    iteration->set("loop", loop_value);
    assign(stmt.target, items[i], iteration);
    if (execute_body(stmt.body, iteration, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Renderer::assign(const AssignTarget& target, const Value& value, Scope* scope) {
  switch (target.kind) {
    case AssignTarget::Kind::Name: scope->set(target.name, value); return;
    case AssignTarget::Kind::NamespaceAttribute: {
      const Value ns = lookup(target.name, scope);
      if (!ns.is_namespace()) fail("cannot assign attribute on non-namespace object");
      ns.as_namespace().attributes.set(Value::string(target.attribute), value);
      return;
    }
    case AssignTarget::Kind::Tuple: {
      if (value.is_undefined()) fail(value.undefined_message());
      const ValueList items = iterate(value);
      const size_t expected = target.items.size();
      if (items.size() > expected) fail("too many values to unpack (expected " + std::to_string(expected) + ")");
      if (items.size() < expected)
        fail("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
             std::to_string(items.size()) + ")");
      for (size_t i = 0; i < expected; ++i) assign(target.items[i], items[i], scope);
      return;
    }
  }
}

// ---- macros -------------------------------------------------------------------------------

Value Renderer::make_macro(std::shared_ptr<const MacroDefinition> macro, Scope* closure) {
  const std::string name = macro->name;
  return Value::function(
      name,
      [macro = std::move(macro), closure](Renderer& renderer, CallArgs& args) {
        return renderer.invoke_macro(*macro, closure, args);
      },
      true);
}

// Binds arguments like jinja2's Macro.__call__: positional first; then the remaining parameters
// from keywords; leftover keywords go to `kwargs` and extra positionals to `varargs` when the
// body uses those names, else they are errors; missing parameters take their defaults
// (evaluated in the macro scope, in order) or become Undefined.
Value Renderer::invoke_macro(const MacroDefinition& macro, Scope* closure, CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth)
    fail("maximum macro call depth (" + std::to_string(limits_.max_call_depth) + ") exceeded");
  struct DepthGuard {
    explicit DepthGuard(int& depth) : depth(depth) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  } guard(call_depth_);

  Scope* scope = new_scope(closure);
  const size_t parameter_count = macro.parameters.size();
  std::vector<bool> bound(parameter_count, false);
  const size_t positional_used = std::min(args.positional.size(), parameter_count);
  for (size_t i = 0; i < positional_used; ++i) {
    scope->set(macro.parameters[i], args.positional[i]);
    bound[i] = true;
  }
  std::vector<std::pair<std::string, Value>> keywords = args.keyword;
  bool found_caller = false;
  if (positional_used != parameter_count) {
    for (size_t i = positional_used; i < parameter_count; ++i) {
      const std::string& name = macro.parameters[i];
      if (name == "caller") found_caller = true;
      for (auto it = keywords.begin(); it != keywords.end(); ++it) {
        if (it->first == name) {
          scope->set(name, it->second);
          bound[i] = true;
          keywords.erase(it);
          break;
        }
      }
    }
  } else {
    for (const std::string& name : macro.parameters) found_caller |= name == "caller";
  }
  if (macro.uses_caller && !found_caller) {
    Value caller = Value::undefined("No caller defined");
    for (auto it = keywords.begin(); it != keywords.end(); ++it) {
      if (it->first == "caller") {
        caller = it->second;
        keywords.erase(it);
        break;
      }
    }
    scope->set("caller", caller);
  }
  if (macro.uses_kwargs) {
    Dict kwargs;
    for (auto& [key, value] : keywords) kwargs.set(Value::string(key), value);
    scope->set("kwargs", Value::dict(std::move(kwargs)));
  } else if (!keywords.empty()) {
    if (keywords.front().first == "caller")
      fail("macro '" + macro.name + "' was invoked with two values for the special caller argument");
    fail("macro '" + macro.name + "' takes no keyword argument '" + keywords.front().first + "'");
  }
  if (macro.uses_varargs) {
    ValueList extra;
    for (size_t i = parameter_count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    scope->set("varargs", Value::tuple(std::move(extra)));
  } else if (args.positional.size() > parameter_count) {
    fail("macro '" + macro.name + "' takes not more than " + std::to_string(parameter_count) + " argument(s)");
  }
  const size_t first_default = parameter_count - macro.defaults.size();
  for (size_t i = 0; i < parameter_count; ++i) {
    if (bound[i]) continue;
    if (i >= first_default)
      scope->set(macro.parameters[i], evaluate(*macro.defaults[i - first_default], scope));
    else
      scope->set(macro.parameters[i], Value::undefined("parameter '" + macro.parameters[i] + "' was not provided"));
  }
  std::string out;
  execute_body(macro.body, scope, out);
  return Value::string(std::move(out));
}

// ---- calls ---------------------------------------------------------------------------------

Value Renderer::call(const Value& callee, CallArgs& args) {
  switch (callee.kind()) {
    case ValueKind::Function: return callee.as_function().invoke(*this, args);
    case ValueKind::Object:
      if (callee.as_object().callable()) return callee.as_object().call(*this, args);
      break;
    case ValueKind::Undefined: fail(callee.undefined_message());
    default: break;
  }
  fail("'" + type_name(callee) + "' object is not callable");
}

CallArgs Renderer::evaluate_arguments(const CallArguments& arguments, Scope* scope) {
  CallArgs args;
  for (const ExprPtr& arg : arguments.positional) args.positional.push_back(evaluate(*arg, scope));
  if (arguments.star_args) {
    for (Value& item : iterate(evaluate(*arguments.star_args, scope))) args.positional.push_back(std::move(item));
  }
  for (const auto& [name, arg] : arguments.keyword) args.keyword.emplace_back(name, evaluate(*arg, scope));
  if (arguments.star_kwargs) {
    const Value mapping = evaluate(*arguments.star_kwargs, scope);
    if (!mapping.is_dict()) fail("argument after ** must be a mapping, not " + type_name(mapping));
    for (const auto& [key, value] : mapping.as_dict().entries()) {
      if (!key.is_string()) fail("keywords must be strings");
      args.keyword.emplace_back(key.as_string(), value);
    }
  }
  for (size_t i = 0; i < args.keyword.size(); ++i)
    for (size_t j = i + 1; j < args.keyword.size(); ++j)
      if (args.keyword[i].first == args.keyword[j].first)
        fail("got multiple values for keyword argument '" + args.keyword[i].first + "'");
  return args;
}

Value Renderer::evaluate_call(const CallExpr& call_expr, Scope* scope, const Value* caller) {
  const Value callee = evaluate(*call_expr.callee, scope);
  CallArgs args = evaluate_arguments(call_expr.args, scope);
  if (caller) args.keyword.emplace_back("caller", *caller);
  return charge_built(call(callee, args));
}

Value Renderer::apply_filter(const std::string& name, const Value& value, CallArgs& args) {
  const FilterFunction filter = find_filter(name);
  if (!filter) {
    if (jinja2_has_filter(name)) fail("the '" + name + "' filter is not supported by jisu");
    fail("no filter named '" + name + "'");
  }
  return charge_built(filter(*this, value, args));
}

bool Renderer::apply_test(const std::string& name, const Value& value, CallArgs& args) {
  const TestFunction test = find_test(name);
  if (!test) {
    if (jinja2_has_test(name)) fail("the '" + name + "' test is not supported by jisu");
    fail("no test named '" + name + "'");
  }
  return test(*this, value, args);
}

Value Renderer::evaluate_filter(const FilterExpr& filter, Scope* scope, const Value* block_value) {
  Value input;
  if (!filter.operand) input = *block_value;
  else if (filter.operand->kind == ExprKind::Filter)
    input = evaluate_filter(static_cast<const FilterExpr&>(*filter.operand), scope, block_value);
  else input = evaluate(*filter.operand, scope);
  try {
    CallArgs args = evaluate_arguments(filter.args, scope);
    if (!filter.known) fail("no filter named '" + filter.name + "' found");
    return apply_filter(filter.name, input, args);
  } catch (TemplateError& error) {
    error.locate(filter.where);
    throw;
  }
}

Value Renderer::evaluate_test(const TestExpr& test, Scope* scope) {
  const Value input = evaluate(*test.operand, scope);
  CallArgs args = evaluate_arguments(test.args, scope);
  if (!test.known) fail("no test named '" + test.name + "' found");
  return Value::boolean(apply_test(test.name, input, args));
}

// ---- expressions --------------------------------------------------------------------------

Value Renderer::evaluate(const Expr& expr, Scope* scope) {
  try {
    step();
    switch (expr.kind) {
      case ExprKind::Literal: return static_cast<const LiteralExpr&>(expr).value;
      case ExprKind::Name: return lookup(static_cast<const NameExpr&>(expr).name, scope);
      case ExprKind::List:
      case ExprKind::Tuple: {
        ValueList items;
        for (const ExprPtr& item : static_cast<const SequenceExpr&>(expr).items) items.push_back(evaluate(*item, scope));
        return expr.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case ExprKind::Dict: {
        Dict dict;
        for (const auto& [key_expr, value_expr] : static_cast<const DictExpr&>(expr).items) {
          Value key = evaluate(*key_expr, scope);
          if (!is_hashable(key)) fail("unhashable type: '" + type_name(key) + "'");
          dict.set(std::move(key), evaluate(*value_expr, scope));
        }
        return Value::dict(std::move(dict));
      }
      case ExprKind::Getattr: {
        const auto& node = static_cast<const GetattrExpr&>(expr);
        return get_attribute(evaluate(*node.object, scope), node.attribute);
      }
      case ExprKind::Getitem: {
        const auto& node = static_cast<const GetitemExpr&>(expr);
        const Value object = evaluate(*node.object, scope);
        if (node.index->kind == ExprKind::Slice) {
          const auto& slice = static_cast<const SliceExpr&>(*node.index);
          const Value start = slice.start ? evaluate(*slice.start, scope) : Value::none();
          const Value stop = slice.stop ? evaluate(*slice.stop, scope) : Value::none();
          const Value stride = slice.step ? evaluate(*slice.step, scope) : Value::none();
          return slice_value(object, &start, &stop, &stride);
        }
        return get_item(object, evaluate(*node.index, scope));
      }
      case ExprKind::Slice: fail("slice outside of a subscript");
      case ExprKind::Call: return evaluate_call(static_cast<const CallExpr&>(expr), scope, nullptr);
      case ExprKind::Filter: return evaluate_filter(static_cast<const FilterExpr&>(expr), scope, nullptr);
      case ExprKind::Test: return evaluate_test(static_cast<const TestExpr&>(expr), scope);
      case ExprKind::Unary: {
        const auto& node = static_cast<const UnaryExpr&>(expr);
        return unary_operation(node.op, evaluate(*node.operand, scope));
      }
      case ExprKind::Binary: {
        const auto& node = static_cast<const BinaryExpr&>(expr);
        const Value left = evaluate(*node.left, scope);
        const Value right = evaluate(*node.right, scope);
        Value result = binary_operation(node.op, left, right);
        if (result.is_string()) charge(result.as_string().size() >> 8);
        return charge_built(std::move(result));
      }
      case ExprKind::And: {
        const auto& node = static_cast<const LogicalExpr&>(expr);
        Value left = evaluate(*node.left, scope);
        return truthy(left) ? evaluate(*node.right, scope) : left;
      }
      case ExprKind::Or: {
        const auto& node = static_cast<const LogicalExpr&>(expr);
        Value left = evaluate(*node.left, scope);
        return truthy(left) ? left : evaluate(*node.right, scope);
      }
      case ExprKind::Concat: {
        std::string text;
        for (const ExprPtr& part : static_cast<const ConcatExpr&>(expr).parts) {
          const Value value = evaluate(*part, scope);
          if (value.is_string()) text += value.as_string();
          else text += to_str(value);
          if (text.size() > kMaxBuiltSize) fail("string concatenation result is too large");
        }
        charge(text.size() >> 8);
        return charge_built(Value::string(std::move(text)));
      }
      case ExprKind::Compare: {
        const auto& node = static_cast<const CompareExpr&>(expr);
        Value left = evaluate(*node.first, scope);
        for (const auto& [op, operand] : node.rest) {
          Value right = evaluate(*operand, scope);
          if (!compare_operation(op, left, right)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case ExprKind::Conditional: {
        const auto& node = static_cast<const ConditionalExpr&>(expr);
        if (truthy(evaluate(*node.condition, scope))) return evaluate(*node.if_true, scope);
        if (node.if_false) return evaluate(*node.if_false, scope);
        return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
      }
    }
    return Value();
  } catch (TemplateError& error) {
    error.locate(expr.where);
    throw;
  }
}

}  // namespace jisu::jinja
