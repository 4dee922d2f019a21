"""Whether a column's widget gives the same value for the same cell, whatever the row.

The fast path converts each distinct value of a column once per chunk
(`batches.cells.once_per_value`) when that is provably what converting every cell
would give: the widget's `clean()` must be a pure function of the cell's text. That
holds for the built-in widgets listed in `PURE_WIDGETS` (they read neither the row nor
the keyword arguments, keep no state, and depend on settings that do not change
during a chunk). A subclass is accepted only if every method it adds or overrides
(but `__init__`, which runs before the import, and `render`, which is export-only)
passes `_pure_function`: a small, conservative reading of its source that allows
reading the cell, the widget's own attributes and constant module-level values,
calling string methods, a few side-effect-free built-ins and `super()`, and passing
`row` and `**kwargs` on to `super()` unchanged. Anything else (reading the row or
`row_number`, assigning an attribute, calling an unknown function, a closure, a
decorator, source that cannot be read) refuses the shortcut, and the column is
converted cell by cell as before.
"""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import decimal
import inspect
import textwrap
import uuid
from types import FunctionType

from import_export import widgets
from import_export.fields import NOT_PROVIDED

# Built-in widgets whose clean() is a pure function of the value (within a chunk).
# ForeignKeyWidget reads the database, ManyToManyWidget too; JSONWidget returns a
# mutable object: none of them is here.
PURE_WIDGETS = (
    widgets.Widget,  # clean() returns the value
    widgets.CharWidget,
    widgets.IntegerWidget,
    widgets.DecimalWidget,
    widgets.FloatWidget,
    widgets.BooleanWidget,
    widgets.DateWidget,
    widgets.DateTimeWidget,
    widgets.TimeWidget,
)
# Methods a subclass may override without them being read: they do not run per cell.
NOT_PER_CELL = {"__init__", "render"}

SAFE_BUILTINS = {
    "str", "int", "float", "bool", "len", "isinstance", "abs", "min", "max", "round",
    "tuple", "frozenset", "set", "list", "dict", "any", "all", "sorted", "repr",
    "ValueError", "TypeError", "KeyError", "IndexError", "ArithmeticError", "Exception",
    "None", "True", "False", "super",
}  # fmt: skip
# Methods of str (and Decimal) that return a new value and change nothing.
PURE_METHODS = {
    "strip", "lstrip", "rstrip", "lower", "upper", "casefold", "title", "capitalize",
    "replace", "startswith", "endswith", "split", "rsplit", "partition", "rpartition",
    "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "removeprefix",
    "removesuffix", "zfill", "count", "find", "get",
}  # fmt: skip
CONSTANT_TYPES = (str, bytes, int, float, bool, type(None), decimal.Decimal)
CALLABLE_GLOBALS = {decimal.Decimal}


def widget_is_pure(widget) -> bool:
    """True if `widget.clean(value, row, **kwargs)` depends on `value` alone."""
    return pure_widget_refusal(widget) is None


def pure_widget_refusal(widget) -> str | None:
    """Why converting each distinct value once is refused for this widget (None: it is not)."""
    kind = type(widget)
    mro = kind.__mro__
    base = next((c for c in mro if c in PURE_WIDGETS), None)  # the nearest one
    if base is None:
        return f"{kind.__name__} is not a subclass of a built-in value widget"
    subclasses = mro[: mro.index(base)]
    for cls in subclasses:
        if cls.__module__.split(".")[0] == "import_export":
            return f"{cls.__name__} is a library widget not known to be pure"
    for cls in subclasses:
        for name, member in vars(cls).items():
            if name.startswith("__") and name.endswith("__") and name not in {"__call__"}:
                continue
            if name in NOT_PER_CELL:
                continue
            if isinstance(member, FunctionType):
                refusal = _pure_function(member, cls)
                if refusal:
                    return f"{cls.__name__}.{name}: {refusal}"
            elif isinstance(member, staticmethod | classmethod | property):
                return f"{cls.__name__}.{name}: a {type(member).__name__} is not read"
            elif callable(member):
                return f"{cls.__name__}.{name}: not a plain method"
            elif not _constant(member):
                return f"{cls.__name__}.{name}: not a constant"
    return None


def _constant(value) -> bool:
    if isinstance(value, CONSTANT_TYPES):
        return True
    if isinstance(value, tuple | frozenset | set | list):
        return all(isinstance(v, CONSTANT_TYPES) for v in value)
    if isinstance(value, dict):
        return all(_constant(k) and _constant(v) for k, v in value.items())
    return False


def _pure_function(function: FunctionType, owner: type) -> str | None:
    if set(function.__code__.co_freevars) - {"__class__"}:
        return "a closure"
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return "its source cannot be read"
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef) or node.decorator_list:
        return "decorated"
    return _Reader(function, node, owner).refusal()


class _Reader(ast.NodeVisitor):
    """Reads one method; `problem` is the first construct that might not be pure."""

    methods = PURE_METHODS  # the methods it may call on a value

    def __init__(self, function: FunctionType, node: ast.FunctionDef, owner: type) -> None:
        self.function = function
        self.owner = owner
        self.node = node
        args = node.args
        positional = [a.arg for a in args.posonlyargs + args.args]
        self.self_name = positional[0] if positional else None
        # clean(self, value, row=None, **kwargs): the row and the keyword arguments may
        # only be handed on to super() as they came.
        self.passed_on = set(positional[2:]) | {a.arg for a in args.kwonlyargs}
        if args.vararg:
            self.passed_on.add(args.vararg.arg)
        if args.kwarg:
            self.passed_on.add(args.kwarg.arg)
        self.locals = set(positional[:2])
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                self.locals.add(inner.id)
            elif isinstance(inner, ast.ExceptHandler) and inner.name:
                self.locals.add(inner.name)
        self.locals -= self.passed_on
        self.problem: str | None = None
        self._allowed: set[int] = set()  # ids of Name nodes handed on to super()

    def refusal(self) -> str | None:
        for statement in self.node.body:
            self.visit(statement)
            if self.problem:
                break
        return self.problem

    def _refuse(self, why: str) -> None:
        if self.problem is None:
            self.problem = why

    def generic_visit(self, node: ast.AST) -> None:
        forbidden = (
            ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await, ast.Import,
            ast.ImportFrom, ast.Delete, ast.With, ast.AsyncWith, ast.ClassDef,
            ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.NamedExpr,
        )  # fmt: skip
        if isinstance(node, forbidden):
            self._refuse(f"uses {type(node).__name__.lower()}")
            return
        super().generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
        self.visit(node.value)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.visit(node.value)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            return
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._target(element)
            return
        self._refuse("assigns to an attribute or an item")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if _is_super_call(func):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                inner = argument.value if isinstance(argument, ast.Starred) else argument
                if isinstance(inner, ast.Name) and inner.id in self.passed_on:
                    self._allowed.add(id(inner))
            for argument in node.args:
                self.visit(argument)
            for keyword in node.keywords:
                self.visit(keyword.value)
            return
        if isinstance(func, ast.Name):
            if func.id in self.locals or not self._callable_name(func.id):
                self._refuse(f"calls {func.id}()")
                return
        elif isinstance(func, ast.Attribute):
            on_self = isinstance(func.value, ast.Name) and func.value.id == self.self_name
            if not on_self and func.attr not in self.methods:
                self._refuse(f"calls .{func.attr}()")
                return
            if on_self and not callable(getattr(self.owner, func.attr, None)):
                self._refuse(f"calls self.{func.attr}(), not a method")
                return
            if not on_self:
                self.visit(func.value)
        else:
            self._refuse("calls a computed function")
            return
        for argument in node.args:
            self.visit(argument)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _callable_name(self, name: str) -> bool:
        if name in self.function.__globals__:
            return self.function.__globals__[name] in CALLABLE_GLOBALS
        return name in SAFE_BUILTINS

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == self.self_name:
            return  # reading the widget's own attribute (set before the import)
        self.visit(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in self.passed_on:
            if id(node) not in self._allowed:
                self._refuse(f"reads {name!r} (only passing it on to super() is allowed)")
            return
        if name == self.self_name:
            self._refuse("hands the widget itself to other code")
            return
        if name in self.locals:
            return
        known = self.function.__globals__
        if name in known:
            value = known[name]
            if not (_constant(value) or value in CALLABLE_GLOBALS):
                self._refuse(f"reads the global {name!r}, which is not a constant")
            return
        if name not in SAFE_BUILTINS or not hasattr(builtins, name):
            self._refuse(f"reads {name!r}")


def _is_super_call(func: ast.expr) -> bool:
    """`super().method` or `super(Class, self).method`."""
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


# Values a widget may hand back that no later step can change in place: one answer can
# stand for every row holding the same cell.
IMMUTABLE_VALUES = (str, int, float, decimal.Decimal, type(None), dt.date, dt.time, uuid.UUID)
_NOT_KEPT = object()


def clean_once_per_value(resource_field, *, limit: int = 20_000, lane=None, slow=None):
    """`resource_field.clean(row, **kwargs)` answered once per distinct cell value.

    For the compatible path, where the Resource's own `import_field` calls
    `Field.clean`: the caller checks the field converts by value
    (`batches.cells.converts_by_value`). A hook may still replace the widget or change
    its attributes (a format read from the row, say): the answers then stop being
    used. Only immutable answers are kept; anything else is cleaned again. `lane`
    (`batches.valuelanes`) reads a text cell met for the first time as the widget
    would, or gives `slow`, and `Field.clean` is called.
    """
    clean = resource_field.clean
    widget = resource_field.widget
    state = dict(vars(widget))
    default = resource_field.default
    column = resource_field.column_name
    answers: dict = {}

    def clean_once(row, **kwargs):
        if (
            resource_field.widget is not widget
            or resource_field.default is not default
            or resource_field.column_name != column
            or vars(widget) != state
        ):
            return clean(row, **kwargs)
        try:
            value = row[column]
            key = (type(value), value)
            answer = answers.get(key, _NOT_KEPT)
        except (KeyError, TypeError):  # no such column, an unhashable value
            return clean(row, **kwargs)
        if answer is _NOT_KEPT:
            answer = cleaned_by_lane(resource_field, value, lane=lane, slow=slow)
            if answer is slow:
                answer = clean(row, **kwargs)
            if type(answer) in IMMUTABLE_VALUES and len(answers) < limit:
                answers[key] = answer
        return answer

    return clean_once


def cleaned_by_lane(resource_field, value, *, lane, slow):
    """`Field.clean` of a cell by the widget's exact lane (`batches.valuelanes`), the
    field's default for an empty answer as `Field.clean` gives it; `slow` when there
    is no lane, the cell is not text, or the lane cannot tell. Only for a field that
    converts by value (its default a constant)."""
    answer = lane(value) if lane is not None and type(value) is str else slow
    if answer is slow:
        return slow
    if answer in resource_field.empty_values and resource_field.default != NOT_PROVIDED:
        return resource_field.default
    return answer
