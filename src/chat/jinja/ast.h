#pragma once
// The template's syntax tree, as jinja2's parser builds it (jinja2/nodes.py), minus the nodes
// chat templates cannot use (inheritance, includes, imports). Every node records where it starts
// so runtime errors can point at it. Nodes are immutable after parsing, so one parsed template
// can be rendered any number of times, concurrently.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/template_error.h"
#include "chat/jinja/value.h"

namespace jisu::jinja {

// ---- Expressions ------------------------------------------------------------------------

enum class ExprKind : uint8_t {
  Literal,      // LiteralExpr
  Name,         // NameExpr
  List,         // SequenceExpr
  Tuple,        // SequenceExpr
  Dict,         // DictExpr
  Getattr,      // GetattrExpr: obj.name
  Getitem,      // GetitemExpr: obj[index] (index may be a SliceExpr)
  Slice,        // SliceExpr: only as a Getitem index
  Call,         // CallExpr
  Filter,       // FilterExpr: value | name(args)
  Test,         // TestExpr: value is name(args)
  Unary,        // UnaryExpr: - + not
  Binary,       // BinaryExpr: + - * / // % **
  And,          // LogicalExpr
  Or,           // LogicalExpr
  Concat,       // ConcatExpr: a ~ b ~ c
  Compare,      // CompareExpr: a < b == c (chained like Python)
  Conditional,  // ConditionalExpr: a if cond else b
};

struct Expr {
  Expr(ExprKind kind, SourceLocation where) : kind(kind), where(where) {}
  virtual ~Expr() = default;
  const ExprKind kind;
  const SourceLocation where;
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr : Expr {
  LiteralExpr(SourceLocation where, Value value) : Expr(ExprKind::Literal, where), value(std::move(value)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourceLocation where, std::string name) : Expr(ExprKind::Name, where), name(std::move(name)) {}
  std::string name;
};

struct SequenceExpr : Expr {
  SequenceExpr(ExprKind kind, SourceLocation where) : Expr(kind, where) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(SourceLocation where) : Expr(ExprKind::Dict, where) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetattrExpr : Expr {
  GetattrExpr(SourceLocation where, ExprPtr object, std::string attribute)
      : Expr(ExprKind::Getattr, where), object(std::move(object)), attribute(std::move(attribute)) {}
  ExprPtr object;
  std::string attribute;
};

struct GetitemExpr : Expr {
  GetitemExpr(SourceLocation where, ExprPtr object, ExprPtr index)
      : Expr(ExprKind::Getitem, where), object(std::move(object)), index(std::move(index)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {
  explicit SliceExpr(SourceLocation where) : Expr(ExprKind::Slice, where) {}
  ExprPtr start, stop, step;  // each may be null
};

// Arguments as written at a call site: f(a, b, k=v, *rest, **more).
struct CallArguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;    // may be null
  ExprPtr star_kwargs;  // may be null
};

struct CallExpr : Expr {
  CallExpr(SourceLocation where, ExprPtr callee) : Expr(ExprKind::Call, where), callee(std::move(callee)) {}
  ExprPtr callee;
  CallArguments args;
};

struct FilterExpr : Expr {
  FilterExpr(SourceLocation where, ExprPtr operand, std::string name)
      : Expr(ExprKind::Filter, where), operand(std::move(operand)), name(std::move(name)) {}
  // Null in `{% filter %}` blocks and `{% set x | f %}`: the block's output is the operand.
  ExprPtr operand;
  std::string name;
  CallArguments args;
  // False when the name is not a filter jinja2 knows and jinja2 would only fail at run time
  // (inside an `if`, see Parser): evaluating the node raises "No filter named ...".
  bool known = true;
};

struct TestExpr : Expr {
  TestExpr(SourceLocation where, ExprPtr operand, std::string name)
      : Expr(ExprKind::Test, where), operand(std::move(operand)), name(std::move(name)) {}
  ExprPtr operand;
  std::string name;
  CallArguments args;
  bool known = true;  // as FilterExpr::known
};

enum class UnaryOp : uint8_t { Negate, Plus, Not };
struct UnaryExpr : Expr {
  UnaryExpr(SourceLocation where, UnaryOp op, ExprPtr operand)
      : Expr(ExprKind::Unary, where), op(op), operand(std::move(operand)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power };
struct BinaryExpr : Expr {
  BinaryExpr(SourceLocation where, BinaryOp op, ExprPtr left, ExprPtr right)
      : Expr(ExprKind::Binary, where), op(op), left(std::move(left)), right(std::move(right)) {}
  BinaryOp op;
  ExprPtr left, right;
};

struct LogicalExpr : Expr {  // And / Or: Python short-circuit, yields an operand (not a bool)
  LogicalExpr(ExprKind kind, SourceLocation where, ExprPtr left, ExprPtr right)
      : Expr(kind, where), left(std::move(left)), right(std::move(right)) {}
  ExprPtr left, right;
};

struct ConcatExpr : Expr {
  explicit ConcatExpr(SourceLocation where) : Expr(ExprKind::Concat, where) {}
  std::vector<ExprPtr> parts;
};

enum class CompareOp : uint8_t { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, In, NotIn };
struct CompareExpr : Expr {
  CompareExpr(SourceLocation where, ExprPtr first) : Expr(ExprKind::Compare, where), first(std::move(first)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct ConditionalExpr : Expr {
  explicit ConditionalExpr(SourceLocation where) : Expr(ExprKind::Conditional, where) {}
  ExprPtr condition, if_true;
  ExprPtr if_false;  // null: `a if b` yields Undefined when b is false
};

// ---- Statements -------------------------------------------------------------------------

// Assignment targets: `x`, `a, (b, c)`, and (for `set` only) `ns.attr`.
struct AssignTarget {
  enum class Kind : uint8_t { Name, Tuple, NamespaceAttribute } kind = Kind::Name;
  SourceLocation where;
  std::string name;       // Name, NamespaceAttribute (the namespace variable)
  std::string attribute;  // NamespaceAttribute
  std::vector<AssignTarget> items;  // Tuple
};

enum class StmtKind : uint8_t {
  Text,        // TextStmt: literal template data
  Output,      // OutputStmt: {{ expr }}
  If,          // IfStmt
  For,         // ForStmt
  Set,         // SetStmt: {% set target = expr %}
  SetBlock,    // SetBlockStmt: {% set target %}...{% endset %}
  Macro,       // MacroStmt
  CallBlock,   // CallBlockStmt: {% call(args) macro(...) %}...{% endcall %}
  FilterBlock, // FilterBlockStmt
  With,        // WithStmt
  Scope,       // ScopeStmt: {% generation %}...{% endgeneration %} (a caller body, own scope)
  Break,
  Continue,
};

struct Stmt {
  Stmt(StmtKind kind, SourceLocation where) : kind(kind), where(where) {}
  virtual ~Stmt() = default;
  const StmtKind kind;
  const SourceLocation where;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt : Stmt {
  TextStmt(SourceLocation where, std::string text) : Stmt(StmtKind::Text, where), text(std::move(text)) {}
  std::string text;
};

struct OutputStmt : Stmt {
  OutputStmt(SourceLocation where, ExprPtr expr) : Stmt(StmtKind::Output, where), expr(std::move(expr)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourceLocation where) : Stmt(StmtKind::If, where) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(SourceLocation where) : Stmt(StmtKind::For, where) {}
  AssignTarget target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  bool recursive = false;
  Body body;
  Body else_body;  // rendered when no item passed the filter
};

struct SetStmt : Stmt {
  explicit SetStmt(SourceLocation where) : Stmt(StmtKind::Set, where) {}
  AssignTarget target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourceLocation where) : Stmt(StmtKind::SetBlock, where) {}
  AssignTarget target;
  ExprPtr filter;  // FilterExpr chain whose innermost operand is null, or null
  Body body;
};

// Parameters and body shared by macros and call-block callers.
struct MacroDefinition {
  std::string name;
  std::vector<std::string> parameters;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() parameters
  Body body;
  // Whether the body mentions these names (jinja2 then accepts extra arguments / a caller).
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(SourceLocation where) : Stmt(StmtKind::Macro, where) {}
  std::shared_ptr<const MacroDefinition> macro;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourceLocation where) : Stmt(StmtKind::CallBlock, where) {}
  std::shared_ptr<const MacroDefinition> caller;  // named "caller"
  std::unique_ptr<CallExpr> call;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourceLocation where) : Stmt(StmtKind::FilterBlock, where) {}
  ExprPtr filter;  // FilterExpr chain whose innermost operand is null
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourceLocation where) : Stmt(StmtKind::With, where) {}
  std::vector<std::pair<AssignTarget, ExprPtr>> assignments;
  Body body;
};

struct ScopeStmt : Stmt {
  explicit ScopeStmt(SourceLocation where) : Stmt(StmtKind::Scope, where) {}
  Body body;
};

struct LoopControlStmt : Stmt {
  LoopControlStmt(StmtKind kind, SourceLocation where) : Stmt(kind, where) {}
};

struct TemplateProgram {
  Body body;
};

}  // namespace jisu::jinja
