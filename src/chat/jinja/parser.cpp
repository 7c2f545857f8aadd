#include "chat/jinja/parser.h"

#include <initializer_list>
#include <unordered_set>

#include "chat/jinja/builtins.h"
#include "chat/jinja/lexer.h"

namespace jisu::jinja {

namespace {

// Deeper nesting than this (parentheses, blocks, filters) is rejected instead of recursing on.
constexpr int kMaxNesting = 96;
// Chains (`a + b + ...`, `x.a.b...`, `f()()...`, `v|f|g...`) are parsed in loops but build trees
// as deep as they are long, which rendering and destruction walk recursively: one tag may hold
// at most this many links (real templates use a few dozen).
constexpr int kMaxChainLinks = 1000;

std::string describe(const Token& token) {
  switch (token.type) {
    case TokenType::Eof: return "end of template";
    case TokenType::Data: return "template data";
    case TokenType::VariableBegin: return "begin of print statement";
    case TokenType::VariableEnd: return "end of print statement";
    case TokenType::BlockBegin: return "begin of statement block";
    case TokenType::BlockEnd: return "end of statement block";
    case TokenType::String: return "string";
    case TokenType::Integer: return "integer";
    case TokenType::Float: return "float";
    default: return token.text;
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  TemplateProgram parse() {
    TemplateProgram program;
    program.body = subparse({});
    if (current().type != TokenType::Eof) fail_here("unexpected " + describe(current()));
    return program;
  }

 private:
  // ---- token stream ----
  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  const Token& advance() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool is_op(std::string_view op) const { return current().type == TokenType::Operator && current().text == op; }
  bool is_name(std::string_view name) const { return current().type == TokenType::Name && current().text == name; }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  [[noreturn]] void fail_at(const std::string& message, SourceLocation where) const { throw TemplateError(message, where); }
  [[noreturn]] void fail_here(const std::string& message) const { fail_at(message, current().where); }

  const Token& expect_op(std::string_view op) {
    if (!is_op(op)) fail_here("expected token '" + std::string(op) + "', got '" + describe(current()) + "'");
    return advance();
  }
  const Token& expect_name() {
    if (current().type != TokenType::Name) fail_here("expected a name, got '" + describe(current()) + "'");
    return advance();
  }
  void expect_type(TokenType type, const char* what) {
    if (current().type != type) fail_here(std::string("expected ") + what + ", got '" + describe(current()) + "'");
    advance();
  }

  // One more operator, attribute, subscript, call or filter in the current tag.
  void link() {
    if (++links_ > kMaxChainLinks)
      fail_here("expression is too long: more than " + std::to_string(kMaxChainLinks) +
                " chained operators, attributes, subscripts, calls or filters in one tag");
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& parser) : parser(parser) {
      if (++parser.depth_ > kMaxNesting) parser.fail_here("template nesting is too deep");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // ---- statements ----

  bool at_end_token(std::initializer_list<std::string_view> end_tokens) const {
    if (current().type != TokenType::Name) return false;
    for (std::string_view name : end_tokens)
      if (current().text == name) return true;
    return false;
  }

  // Parses template content until a `{% name %}` with a name from end_tokens (left current)
  // or the end of the template.
  Body subparse(std::initializer_list<std::string_view> end_tokens) {
    DepthGuard guard(*this);
    Body body;
    while (current().type != TokenType::Eof) {
      const Token& token = current();
      if (token.type == TokenType::Data) {
        body.push_back(std::make_unique<TextStmt>(token.where, token.text));
        advance();
      } else if (token.type == TokenType::VariableBegin) {
        links_ = 0;
        advance();
        ExprPtr expr = parse_tuple(false, true, {}, false);
        body.push_back(std::make_unique<OutputStmt>(token.where, std::move(expr)));
        expect_type(TokenType::VariableEnd, "end of print statement");
      } else if (token.type == TokenType::BlockBegin) {
        links_ = 0;
        advance();
        if (end_tokens.size() && at_end_token(end_tokens)) return body;
        parse_statement(body);
        expect_type(TokenType::BlockEnd, "end of statement block");
      } else {
        fail_here("unexpected " + describe(token));
      }
    }
    return body;
  }

  // `:`? `%}` body... until one of end_tokens; with drop_needle the end name is consumed.
  Body parse_statements(std::initializer_list<std::string_view> end_tokens, bool drop_needle) {
    skip_op(":");
    expect_type(TokenType::BlockEnd, "end of statement block");
    Body body = subparse(end_tokens);
    if (current().type == TokenType::Eof) {
      std::string expected;
      for (std::string_view name : end_tokens) expected += (expected.empty() ? "'" : " or '") + std::string(name) + "'";
      fail_here("unexpected end of template, expected " + expected);
    }
    if (drop_needle) advance();
    return body;
  }

  void parse_statement(Body& body) {
    const Token& token = current();
    if (token.type != TokenType::Name) fail_here("tag name expected");
    const std::string& tag = token.text;
    if (tag == "if") return body.push_back(parse_if());
    if (tag == "for") return body.push_back(parse_for());
    if (tag == "set") return body.push_back(parse_set());
    if (tag == "macro") return body.push_back(parse_macro());
    if (tag == "call") return body.push_back(parse_call_block());
    if (tag == "filter") return body.push_back(parse_filter_block());
    if (tag == "with") return body.push_back(parse_with());
    if (tag == "print") return parse_print(body);
    if (tag == "generation") {
      auto stmt = std::make_unique<ScopeStmt>(advance().where);
      LoopState saved = enter_function_body();
      stmt->body = parse_statements({"endgeneration"}, true);
      loop_state_ = saved;
      return body.push_back(std::move(stmt));
    }
    if (tag == "break" || tag == "continue") {
      if (!loop_state_.in_loop) fail_here("'" + tag + "' outside loop");
      const StmtKind kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      return body.push_back(std::make_unique<LoopControlStmt>(kind, advance().where));
    }
    if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
        tag == "autoescape")
      fail_here("the '" + tag + "' tag is not supported in chat templates");
    fail_here("encountered unknown tag '" + tag + "'");
  }

  struct LoopState {
    bool in_loop = false;
  };
  LoopState enter_function_body() {
    LoopState saved = loop_state_;
    loop_state_.in_loop = false;
    return saved;
  }

  StmtPtr parse_if() {
    auto stmt = std::make_unique<IfStmt>(advance().where);
    while (true) {
      ExprPtr test = parse_tuple(false, false, {}, false);
      Body branch = parse_statements({"elif", "else", "endif"}, false);
      stmt->branches.emplace_back(std::move(test), std::move(branch));
      const Token& end = advance();
      if (end.text == "elif") continue;
      if (end.text == "else") stmt->else_body = parse_statements({"endif"}, true);
      break;
    }
    return stmt;
  }

  StmtPtr parse_for() {
    auto stmt = std::make_unique<ForStmt>(advance().where);
    stmt->target = parse_assign_target(true, false, {"in"}, false);
    if (!skip_name("in")) fail_here("expected token 'in', got '" + describe(current()) + "'");
    stmt->iterable = parse_tuple(false, false, {"recursive"}, false);
    if (skip_name("if")) stmt->filter = parse_expression(true);
    stmt->recursive = skip_name("recursive");
    const LoopState saved = loop_state_;
    loop_state_.in_loop = true;
    stmt->body = parse_statements({"endfor", "else"}, false);
    loop_state_ = saved;  // the else body runs after the loop, in the enclosing loop state
    if (advance().text == "else") stmt->else_body = parse_statements({"endfor"}, true);
    return stmt;
  }

  StmtPtr parse_set() {
    const SourceLocation where = advance().where;
    AssignTarget target = parse_assign_target(true, false, {}, true);
    if (skip_op("=")) {
      auto stmt = std::make_unique<SetStmt>(where);
      stmt->target = std::move(target);
      stmt->value = parse_tuple(false, true, {}, false);
      return stmt;
    }
    auto stmt = std::make_unique<SetBlockStmt>(where);
    stmt->target = std::move(target);
    stmt->filter = parse_filter(nullptr, false);
    stmt->body = parse_statements({"endset"}, true);
    return stmt;
  }

  // Macro and caller signatures: `(a, b=1, c=2)`.
  void parse_signature(MacroDefinition& macro) {
    expect_op("(");
    while (!is_op(")")) {
      if (!macro.parameters.empty()) expect_op(",");
      const Token& name = expect_name();
      if (name.text == "true" || name.text == "false" || name.text == "none" || name.text == "True" ||
          name.text == "False" || name.text == "None")
        fail_at("can't assign to '" + name.text + "'", name.where);
      if (skip_op("=")) {
        macro.defaults.push_back(parse_expression(true));
      } else if (!macro.defaults.empty()) {
        fail_here("non-default argument follows default argument");
      }
      macro.parameters.push_back(name.text);
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    auto stmt = std::make_unique<MacroStmt>(advance().where);
    auto macro = std::make_shared<MacroDefinition>();
    macro->name = expect_name().text;
    parse_signature(*macro);
    const LoopState saved = enter_function_body();
    macro->body = parse_statements({"endmacro"}, true);
    loop_state_ = saved;
    note_special_names(*macro);
    stmt->macro = std::move(macro);
    return stmt;
  }

  StmtPtr parse_call_block() {
    auto stmt = std::make_unique<CallBlockStmt>(advance().where);
    auto caller = std::make_shared<MacroDefinition>();
    caller->name = "caller";
    if (is_op("(")) parse_signature(*caller);
    ExprPtr call = parse_expression(true);
    if (call->kind != ExprKind::Call) fail_at("expected call", stmt->where);
    stmt->call.reset(static_cast<CallExpr*>(call.release()));
    const LoopState saved = enter_function_body();
    caller->body = parse_statements({"endcall"}, true);
    loop_state_ = saved;
    note_special_names(*caller);
    stmt->caller = std::move(caller);
    return stmt;
  }

  StmtPtr parse_filter_block() {
    auto stmt = std::make_unique<FilterBlockStmt>(advance().where);
    stmt->filter = parse_filter(nullptr, true);
    stmt->body = parse_statements({"endfilter"}, true);
    return stmt;
  }

  StmtPtr parse_with() {
    auto stmt = std::make_unique<WithStmt>(advance().where);
    while (current().type != TokenType::BlockEnd) {
      if (!stmt->assignments.empty()) expect_op(",");
      AssignTarget target = parse_assign_target(true, false, {}, false);
      expect_op("=");
      stmt->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    stmt->body = parse_statements({"endwith"}, true);
    return stmt;
  }

  void parse_print(Body& body) {
    advance();
    bool first = true;
    while (current().type != TokenType::BlockEnd) {
      if (!first) expect_op(",");
      first = false;
      const SourceLocation where = current().where;
      body.push_back(std::make_unique<OutputStmt>(where, parse_expression(true)));
    }
  }

  // Targets: with_tuple -> `a, b` (names, nested parenthesised tuples); with_namespace allows
  // `ns.attr` (set only).
  AssignTarget parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<std::string_view> extra_end,
                                   bool with_namespace) {
    if (name_only) {
      const Token& token = expect_name();
      AssignTarget target;
      target.where = token.where;
      target.name = token.text;
      return target;
    }
    ExprPtr expr = with_tuple ? parse_tuple(true, true, extra_end, false, with_namespace)
                              : parse_primary(with_namespace);
    return to_target(*expr);
  }

  AssignTarget to_target(const Expr& expr) {
    AssignTarget target;
    target.where = expr.where;
    if (expr.kind == ExprKind::Name) {
      target.name = static_cast<const NameExpr&>(expr).name;
      return target;
    }
    if (expr.kind == ExprKind::Getattr && namespace_refs_.count(&expr)) {
      const auto& ref = static_cast<const GetattrExpr&>(expr);
      target.kind = AssignTarget::Kind::NamespaceAttribute;
      target.name = static_cast<const NameExpr&>(*ref.object).name;
      target.attribute = ref.attribute;
      return target;
    }
    if (expr.kind == ExprKind::Tuple) {
      target.kind = AssignTarget::Kind::Tuple;
      for (const ExprPtr& item : static_cast<const SequenceExpr&>(expr).items) {
        AssignTarget inner = to_target(*item);
        if (inner.kind == AssignTarget::Kind::NamespaceAttribute) fail_at("can't assign to 'nsref'", item->where);
        target.items.push_back(std::move(inner));
      }
      return target;
    }
    std::string what = "expression";
    if (expr.kind == ExprKind::Literal) what = "const";
    fail_at("can't assign to '" + what + "'", expr.where);
  }

  // ---- expressions ----

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      link();
      const SourceLocation where = advance().where;
      auto cond = std::make_unique<ConditionalExpr>(where);
      cond->if_true = std::move(expr);
      cond->condition = parse_or();
      if (skip_name("else")) cond->if_false = parse_condexpr();
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      link();
      const SourceLocation where = advance().where;
      left = std::make_unique<LogicalExpr>(ExprKind::Or, where, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      link();
      const SourceLocation where = advance().where;
      left = std::make_unique<LogicalExpr>(ExprKind::And, where, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      const SourceLocation where = advance().where;
      return std::make_unique<UnaryExpr>(where, UnaryOp::Not, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourceLocation where = current().where;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> compare;
    while (true) {
      CompareOp op;
      if (is_op("==")) op = CompareOp::Equal;
      else if (is_op("!=")) op = CompareOp::NotEqual;
      else if (is_op("<")) op = CompareOp::Less;
      else if (is_op("<=")) op = CompareOp::LessEqual;
      else if (is_op(">")) op = CompareOp::Greater;
      else if (is_op(">=")) op = CompareOp::GreaterEqual;
      else if (is_name("in")) op = CompareOp::In;
      else if (is_name("not") && look().type == TokenType::Name && look().text == "in") {
        advance();
        op = CompareOp::NotIn;
      } else {
        break;
      }
      advance();
      link();
      if (!compare) compare = std::make_unique<CompareExpr>(where, std::move(first));
      compare->rest.emplace_back(op, parse_math1());
    }
    if (compare) return compare;
    return first;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      link();
      const Token& token = advance();
      const BinaryOp op = token.text == "+" ? BinaryOp::Add : BinaryOp::Subtract;
      left = std::make_unique<BinaryExpr>(token.where, op, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    const SourceLocation where = current().where;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto concat = std::make_unique<ConcatExpr>(where);
    concat->parts.push_back(std::move(first));
    while (skip_op("~")) {
      link();
      concat->parts.push_back(parse_math2());
    }
    return concat;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      link();
      const Token& token = advance();
      BinaryOp op = BinaryOp::Multiply;
      if (token.text == "/") op = BinaryOp::Divide;
      else if (token.text == "//") op = BinaryOp::FloorDivide;
      else if (token.text == "%") op = BinaryOp::Modulo;
      left = std::make_unique<BinaryExpr>(token.where, op, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      link();
      const Token& token = advance();
      left = std::make_unique<BinaryExpr>(token.where, BinaryOp::Power, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& token = advance();
      const UnaryOp op = token.text == "-" ? UnaryOp::Negate : UnaryOp::Plus;
      node = std::make_unique<UnaryExpr>(token.where, op, parse_unary(false));
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary(bool with_namespace) {
    DepthGuard guard(*this);
    const Token& token = current();
    switch (token.type) {
      case TokenType::Name: {
        advance();
        const std::string& name = token.text;
        if (name == "true" || name == "True") return std::make_unique<LiteralExpr>(token.where, Value::boolean(true));
        if (name == "false" || name == "False") return std::make_unique<LiteralExpr>(token.where, Value::boolean(false));
        if (name == "none" || name == "None") return std::make_unique<LiteralExpr>(token.where, Value::none());
        if (with_namespace && is_op(".")) {
          advance();
          const Token& attribute = expect_name();
          auto ref = std::make_unique<GetattrExpr>(token.where, std::make_unique<NameExpr>(token.where, name),
                                                   attribute.text);
          namespace_refs_.insert(ref.get());
          return ref;
        }
        return std::make_unique<NameExpr>(token.where, name);
      }
      case TokenType::String: {
        std::string text;
        const SourceLocation where = token.where;
        while (current().type == TokenType::String) text += advance().text;  // "a" "b" concatenates
        return std::make_unique<LiteralExpr>(where, Value::string(std::move(text)));
      }
      case TokenType::Integer: advance(); return std::make_unique<LiteralExpr>(token.where, Value::integer(token.integer));
      case TokenType::Float: advance(); return std::make_unique<LiteralExpr>(token.where, Value::number(token.floating));
      case TokenType::Operator:
        if (token.text == "(") {
          advance();
          ExprPtr inner = parse_tuple(false, true, {}, true);
          expect_op(")");
          return inner;
        }
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default: break;
    }
    fail_here("unexpected '" + describe(token) + "'");
  }

  // Comma-separated expressions; a single one without a comma is returned as is.
  // simplified: items are primaries (assignment targets).
  ExprPtr parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                      bool explicit_parentheses, bool with_namespace = false) {
    DepthGuard guard(*this);
    const SourceLocation where = current().where;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (is_op(",")) is_tuple = true;
      else break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) fail_here("expected an expression, got '" + describe(current()) + "'");
    }
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, where);
    tuple->items = std::move(items);
    return tuple;
  }

  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
    const TokenType type = current().type;
    if (type == TokenType::VariableEnd || type == TokenType::BlockEnd || is_op(")")) return true;
    return at_end_token(extra_end);
  }

  ExprPtr parse_list() {
    auto list = std::make_unique<SequenceExpr>(ExprKind::List, expect_op("[").where);
    while (!is_op("]")) {
      if (!list->items.empty()) expect_op(",");
      if (is_op("]")) break;
      list->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return list;
  }

  ExprPtr parse_dict() {
    auto dict = std::make_unique<DictExpr>(expect_op("{").where);
    while (!is_op("}")) {
      if (!dict->items.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      dict->items.emplace_back(std::move(key), parse_expression(true));
    }
    expect_op("}");
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
      else if (is_op("(")) node = parse_call(std::move(node));
      else break;
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) node = parse_filter(std::move(node), false);
      else if (is_name("is")) node = parse_test(std::move(node));
      else if (is_op("(")) node = parse_call(std::move(node));
      else break;
    }
    return node;
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard guard(*this);
    link();
    const Token& token = advance();
    if (token.text == ".") {
      const Token& attribute = current();
      if (attribute.type == TokenType::Name) {
        advance();
        return std::make_unique<GetattrExpr>(token.where, std::move(node), attribute.text);
      }
      if (attribute.type != TokenType::Integer) fail_here("expected name or number");
      advance();
      return std::make_unique<GetitemExpr>(token.where, std::move(node),
                                           std::make_unique<LiteralExpr>(attribute.where, Value::integer(attribute.integer)));
    }
    // '['
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    ExprPtr index;
    if (args.size() == 1) {
      index = std::move(args[0]);
    } else {
      auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, token.where);
      tuple->items = std::move(args);
      index = std::move(tuple);
    }
    return std::make_unique<GetitemExpr>(token.where, std::move(node), std::move(index));
  }

  ExprPtr parse_subscribed() {
    const SourceLocation where = current().where;
    auto slice = std::make_unique<SliceExpr>(where);
    if (is_op(":")) {
      advance();
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      advance();
      slice->start = std::move(node);
    }
    if (!is_op(":") && !is_op("]") && !is_op(",")) slice->stop = parse_expression(true);
    if (is_op(":")) {
      advance();
      if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
    }
    return slice;
  }

  void parse_call_args(CallArguments& args) {
    const Token& open = expect_op("(");
    const auto ensure = [&](bool ok) {
      if (!ok) fail_at("invalid syntax for function call expression", open.where);
    };
    bool require_comma = false;
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;  // trailing comma
      }
      if (is_op("*")) {
        ensure(!args.star_args && !args.star_kwargs);
        advance();
        args.star_args = parse_expression(true);
      } else if (is_op("**")) {
        ensure(!args.star_kwargs);
        advance();
        args.star_kwargs = parse_expression(true);
      } else if (current().type == TokenType::Name && look().type == TokenType::Operator && look().text == "=") {
        ensure(!args.star_kwargs);
        std::string key = advance().text;
        advance();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!args.star_args && !args.star_kwargs && args.keyword.empty());
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    DepthGuard guard(*this);
    link();
    auto call = std::make_unique<CallExpr>(current().where, std::move(callee));
    parse_call_args(call->args);
    return call;
  }

  std::string parse_dotted_name(const Token& first) {
    std::string name = first.text;
    while (is_op(".")) {
      advance();
      name += "." + expect_name().text;
    }
    return name;
  }

  // `| name(args) | name ...`; start_inline: the first filter has no leading pipe.
  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    DepthGuard guard(*this);
    while (is_op("|") || start_inline) {
      link();
      if (!start_inline) advance();
      const Token& token = expect_name();
      auto filter = std::make_unique<FilterExpr>(token.where, std::move(node), parse_dotted_name(token));
      if (is_op("(")) parse_call_args(filter->args);
      filter->known = jinja2_has_filter(filter->name);
      node = std::move(filter);
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard guard(*this);
    const Token& is_token = advance();
    const bool negated = skip_name("not");
    const Token& name_token = expect_name();
    auto test = std::make_unique<TestExpr>(is_token.where, std::move(node), parse_dotted_name(name_token));
    if (is_op("(")) {
      parse_call_args(test->args);
    } else {
      const Token& next = current();
      const bool starts_argument =
          next.type == TokenType::Name || next.type == TokenType::String || next.type == TokenType::Integer ||
          next.type == TokenType::Float ||
          (next.type == TokenType::Operator && (next.text == "(" || next.text == "[" || next.text == "{"));
      if (starts_argument && !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail_here("You cannot chain multiple tests with is");
        test->args.positional.push_back(parse_postfix(parse_primary(false)));
      }
    }
    test->known = jinja2_has_test(test->name);
    if (negated) return std::make_unique<UnaryExpr>(is_token.where, UnaryOp::Not, std::move(test));
    return test;
  }

  // Records which of caller/kwargs/varargs the macro body mentions (jinja2 decides from that
  // whether the macro accepts a caller, extra keyword and extra positional arguments).
  void note_special_names(MacroDefinition& macro) {
    NameScan scan;
    scan.body(macro.body);
    macro.uses_caller = scan.caller;
    macro.uses_kwargs = scan.kwargs;
    macro.uses_varargs = scan.varargs;
  }

  struct NameScan {
    bool caller = false, kwargs = false, varargs = false;
    void expr(const Expr* e) {
      if (!e) return;
      switch (e->kind) {
        case ExprKind::Name: {
          const std::string& n = static_cast<const NameExpr*>(e)->name;
          caller |= n == "caller";
          kwargs |= n == "kwargs";
          varargs |= n == "varargs";
          return;
        }
        case ExprKind::Literal: return;
        case ExprKind::List:
        case ExprKind::Tuple:
          for (const auto& item : static_cast<const SequenceExpr*>(e)->items) expr(item.get());
          return;
        case ExprKind::Dict:
          for (const auto& [k, v] : static_cast<const DictExpr*>(e)->items) {
            expr(k.get());
            expr(v.get());
          }
          return;
        case ExprKind::Getattr: expr(static_cast<const GetattrExpr*>(e)->object.get()); return;
        case ExprKind::Getitem:
          expr(static_cast<const GetitemExpr*>(e)->object.get());
          expr(static_cast<const GetitemExpr*>(e)->index.get());
          return;
        case ExprKind::Slice: {
          const auto* s = static_cast<const SliceExpr*>(e);
          expr(s->start.get());
          expr(s->stop.get());
          expr(s->step.get());
          return;
        }
        case ExprKind::Call:
          expr(static_cast<const CallExpr*>(e)->callee.get());
          args(static_cast<const CallExpr*>(e)->args);
          return;
        case ExprKind::Filter:
          expr(static_cast<const FilterExpr*>(e)->operand.get());
          args(static_cast<const FilterExpr*>(e)->args);
          return;
        case ExprKind::Test:
          expr(static_cast<const TestExpr*>(e)->operand.get());
          args(static_cast<const TestExpr*>(e)->args);
          return;
        case ExprKind::Unary: expr(static_cast<const UnaryExpr*>(e)->operand.get()); return;
        case ExprKind::Binary:
          expr(static_cast<const BinaryExpr*>(e)->left.get());
          expr(static_cast<const BinaryExpr*>(e)->right.get());
          return;
        case ExprKind::And:
        case ExprKind::Or:
          expr(static_cast<const LogicalExpr*>(e)->left.get());
          expr(static_cast<const LogicalExpr*>(e)->right.get());
          return;
        case ExprKind::Concat:
          for (const auto& part : static_cast<const ConcatExpr*>(e)->parts) expr(part.get());
          return;
        case ExprKind::Compare:
          expr(static_cast<const CompareExpr*>(e)->first.get());
          for (const auto& [op, operand] : static_cast<const CompareExpr*>(e)->rest) expr(operand.get());
          return;
        case ExprKind::Conditional: {
          const auto* c = static_cast<const ConditionalExpr*>(e);
          expr(c->condition.get());
          expr(c->if_true.get());
          expr(c->if_false.get());
          return;
        }
      }
    }
    void args(const CallArguments& a) {
      for (const auto& p : a.positional) expr(p.get());
      for (const auto& [k, v] : a.keyword) expr(v.get());
      expr(a.star_args.get());
      expr(a.star_kwargs.get());
    }
    void body(const Body& statements) {
      for (const auto& s : statements) stmt(s.get());
    }
    void stmt(const Stmt* s) {
      switch (s->kind) {
        case StmtKind::Output: expr(static_cast<const OutputStmt*>(s)->expr.get()); return;
        case StmtKind::If: {
          const auto* node = static_cast<const IfStmt*>(s);
          for (const auto& [test, branch] : node->branches) {
            expr(test.get());
            body(branch);
          }
          body(node->else_body);
          return;
        }
        case StmtKind::For: {
          const auto* node = static_cast<const ForStmt*>(s);
          expr(node->iterable.get());
          expr(node->filter.get());
          body(node->body);
          body(node->else_body);
          return;
        }
        case StmtKind::Set: expr(static_cast<const SetStmt*>(s)->value.get()); return;
        case StmtKind::SetBlock:
          expr(static_cast<const SetBlockStmt*>(s)->filter.get());
          body(static_cast<const SetBlockStmt*>(s)->body);
          return;
        case StmtKind::Macro: {
          const auto& macro = *static_cast<const MacroStmt*>(s)->macro;
          for (const auto& d : macro.defaults) expr(d.get());
          body(macro.body);
          return;
        }
        case StmtKind::CallBlock: {
          const auto* node = static_cast<const CallBlockStmt*>(s);
          expr(node->call.get());
          for (const auto& d : node->caller->defaults) expr(d.get());
          body(node->caller->body);
          return;
        }
        case StmtKind::FilterBlock:
          expr(static_cast<const FilterBlockStmt*>(s)->filter.get());
          body(static_cast<const FilterBlockStmt*>(s)->body);
          return;
        case StmtKind::With:
          for (const auto& [target, value] : static_cast<const WithStmt*>(s)->assignments) expr(value.get());
          body(static_cast<const WithStmt*>(s)->body);
          return;
        case StmtKind::Scope: body(static_cast<const ScopeStmt*>(s)->body); return;
        default: return;
      }
    }
  };

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int links_ = 0;  // chain links in the current tag (link())
  LoopState loop_state_;
  std::unordered_set<const Expr*> namespace_refs_;  // `ns.attr` targets built by parse_primary
};

// jinja2 compiles an unknown filter/test into an error unless it sits in a "soft" frame: below
// an `if` (test and branches) or an inline `a if b else c`, with no loop, macro, call, filter
// block or block-set body in between. This pass raises the compile-time errors.
class UnknownNameCheck {
 public:
  void body(const Body& statements, bool soft) {
    for (const auto& s : statements) stmt(*s, soft);
  }

 private:
  void stmt(const Stmt& s, bool soft) {
    switch (s.kind) {
      case StmtKind::Output: expr(static_cast<const OutputStmt&>(s).expr.get(), soft); return;
      case StmtKind::If:
        for (const auto& [test, branch] : static_cast<const IfStmt&>(s).branches) {
          expr(test.get(), true);
          body(branch, true);
        }
        body(static_cast<const IfStmt&>(s).else_body, true);
        return;
      case StmtKind::For: {
        const auto& node = static_cast<const ForStmt&>(s);
        expr(node.iterable.get(), soft);
        expr(node.filter.get(), false);
        body(node.body, false);
        body(node.else_body, false);
        return;
      }
      case StmtKind::Set: expr(static_cast<const SetStmt&>(s).value.get(), soft); return;
      case StmtKind::SetBlock:
        expr(static_cast<const SetBlockStmt&>(s).filter.get(), false);
        body(static_cast<const SetBlockStmt&>(s).body, false);
        return;
      case StmtKind::Macro: {
        const auto& macro = *static_cast<const MacroStmt&>(s).macro;
        for (const auto& d : macro.defaults) expr(d.get(), false);
        body(macro.body, false);
        return;
      }
      case StmtKind::CallBlock: {
        const auto& node = static_cast<const CallBlockStmt&>(s);
        expr(node.call.get(), soft);
        for (const auto& d : node.caller->defaults) expr(d.get(), false);
        body(node.caller->body, false);
        return;
      }
      case StmtKind::FilterBlock:
        expr(static_cast<const FilterBlockStmt&>(s).filter.get(), false);
        body(static_cast<const FilterBlockStmt&>(s).body, false);
        return;
      case StmtKind::With:
        for (const auto& [target, value] : static_cast<const WithStmt&>(s).assignments) expr(value.get(), soft);
        body(static_cast<const WithStmt&>(s).body, false);
        return;
      case StmtKind::Scope: body(static_cast<const ScopeStmt&>(s).body, false); return;
      default: return;
    }
  }

  void args(const CallArguments& a, bool soft) {
    for (const auto& p : a.positional) expr(p.get(), soft);
    for (const auto& [k, v] : a.keyword) expr(v.get(), soft);
    expr(a.star_args.get(), soft);
    expr(a.star_kwargs.get(), soft);
  }

  void expr(const Expr* e, bool soft) {
    if (!e) return;
    switch (e->kind) {
      case ExprKind::Literal:
      case ExprKind::Name: return;
      case ExprKind::List:
      case ExprKind::Tuple:
        for (const auto& item : static_cast<const SequenceExpr*>(e)->items) expr(item.get(), soft);
        return;
      case ExprKind::Dict:
        for (const auto& [k, v] : static_cast<const DictExpr*>(e)->items) {
          expr(k.get(), soft);
          expr(v.get(), soft);
        }
        return;
      case ExprKind::Getattr: expr(static_cast<const GetattrExpr*>(e)->object.get(), soft); return;
      case ExprKind::Getitem:
        expr(static_cast<const GetitemExpr*>(e)->object.get(), soft);
        expr(static_cast<const GetitemExpr*>(e)->index.get(), soft);
        return;
      case ExprKind::Slice: {
        const auto* s = static_cast<const SliceExpr*>(e);
        expr(s->start.get(), soft);
        expr(s->stop.get(), soft);
        expr(s->step.get(), soft);
        return;
      }
      case ExprKind::Call:
        expr(static_cast<const CallExpr*>(e)->callee.get(), soft);
        args(static_cast<const CallExpr*>(e)->args, soft);
        return;
      case ExprKind::Filter: {
        const auto* f = static_cast<const FilterExpr*>(e);
        if (!f->known && !soft) throw TemplateError("no filter named '" + f->name + "'", f->where);
        expr(f->operand.get(), soft);
        args(f->args, soft);
        return;
      }
      case ExprKind::Test: {
        const auto* t = static_cast<const TestExpr*>(e);
        if (!t->known && !soft) throw TemplateError("no test named '" + t->name + "'", t->where);
        expr(t->operand.get(), soft);
        args(t->args, soft);
        return;
      }
      case ExprKind::Unary: expr(static_cast<const UnaryExpr*>(e)->operand.get(), soft); return;
      case ExprKind::Binary:
        expr(static_cast<const BinaryExpr*>(e)->left.get(), soft);
        expr(static_cast<const BinaryExpr*>(e)->right.get(), soft);
        return;
      case ExprKind::And:
      case ExprKind::Or:
        expr(static_cast<const LogicalExpr*>(e)->left.get(), soft);
        expr(static_cast<const LogicalExpr*>(e)->right.get(), soft);
        return;
      case ExprKind::Concat:
        for (const auto& part : static_cast<const ConcatExpr*>(e)->parts) expr(part.get(), soft);
        return;
      case ExprKind::Compare:
        expr(static_cast<const CompareExpr*>(e)->first.get(), soft);
        for (const auto& [op, operand] : static_cast<const CompareExpr*>(e)->rest) expr(operand.get(), soft);
        return;
      case ExprKind::Conditional: {
        const auto* c = static_cast<const ConditionalExpr*>(e);
        expr(c->condition.get(), true);
        expr(c->if_true.get(), true);
        expr(c->if_false.get(), true);
        return;
      }
    }
  }
};

}  // namespace

TemplateProgram parse_template(std::string_view normalized_source) {
  TemplateProgram program = Parser(tokenize(normalized_source)).parse();
  UnknownNameCheck().body(program.body, false);
  return program;
}

}  // namespace jisu::jinja
