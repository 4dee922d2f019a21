"""Whether a Resource's row-level hook is a function of its row, read from its source.

Two hooks can run before the fast path's bulk steps, or around them, when they do
nothing but compute:

- `before_import_row(self, row, **kwargs)` that only rewrites its own row: a function
  from the row to the row (`row_hook_refusal`; used by `batches.rowhooks`);
- `before_save_instance(self, instance, row, **kwargs)` that only reads and sets the
  instance's fields: a function from the fields it reads (and the row) to the fields
  it sets (`instance_hook_use`; used by `batches.instancehooks`).

Each is read by a small, conservative reader built on the widget reader of
`batches.purity`: the hook may read its arguments, call string methods, side-effect-
free built-ins and the computing functions of `re` and `unicodedata`, read module
constants and raise. Reading or calling `self` (the Resource, its fields, their
widgets), a global that is not a constant, an unknown function, `del`, a closure
refuse it, and the refusal says which one it met. Every class of the Resource's own
that defines the hook is read (a `super()` call reaches the next one).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from types import FunctionType, ModuleType

from batches.purity import PURE_METHODS, _is_super_call, _Reader

ROW_HOOK = "before_import_row"
INSTANCE_HOOK = "before_save_instance"
# What a hook may call besides: more methods of str that return a new value, and
# the functions of `re` and `unicodedata` that only compute one (the pattern cache
# aside). A replacement function handed to re.sub() is read like the rest: only a
# constant or a built-in passes.
ROW_HOOK_METHODS = PURE_METHODS | {
    "join", "format", "ljust", "rjust", "center", "splitlines", "rfind", "index",
    "rindex", "swapcase", "isupper", "islower", "istitle", "expandtabs",
}  # fmt: skip
# An instance hook also reads dates, times and numbers off the instance.
INSTANCE_HOOK_METHODS = ROW_HOOK_METHODS | {
    "isoformat", "strftime", "date", "time", "weekday", "isoweekday", "is_integer",
}  # fmt: skip
PURE_MODULE_FUNCTIONS = {
    "re": {"sub", "subn", "match", "fullmatch", "search", "split", "findall", "escape"},
    "unicodedata": {"normalize", "category", "combining"},
}


@dataclass(frozen=True)
class InstanceHookUse:
    """The instance's attributes an instance hook reads and those it assigns."""

    reads: frozenset[str]
    writes: frozenset[str]


def row_hook_refusal(resource_class: type) -> str | None:
    """Why the Resource's `before_import_row` may do more than rewrite its row (None: it
    may not)."""
    refusal = _read_hook(resource_class, ROW_HOOK, _RowHookReader)
    return refusal if isinstance(refusal, str) else None


def instance_hook_use(resource_class: type) -> InstanceHookUse | str:
    """What the Resource's `before_save_instance` reads and sets on the instance, or why
    it may do more than that (a str)."""
    return _read_hook(resource_class, INSTANCE_HOOK, _InstanceHookReader)


def _read_hook(resource_class: type, hook: str, reader_class) -> InstanceHookUse | str:
    reads: set[str] = set()
    writes: set[str] = set()
    for cls in resource_class.__mro__:
        member = vars(cls).get(hook)
        if member is None:
            continue
        if cls.__module__.split(".")[0] == "import_export":
            break  # the library's own: does nothing
        if not isinstance(member, FunctionType):
            return f"{cls.__name__}.{hook} is not a plain method"
        if set(member.__code__.co_freevars) - {"__class__"}:
            return f"{cls.__name__}.{hook}: a closure"
        try:
            node = ast.parse(textwrap.dedent(inspect.getsource(member))).body[0]
        except (OSError, TypeError, SyntaxError):
            return f"{cls.__name__}.{hook}: its source cannot be read"
        if not isinstance(node, ast.FunctionDef) or node.decorator_list:
            return f"{cls.__name__}.{hook}: decorated"
        reader = reader_class(member, node, cls)
        refusal = reader.refusal()
        if refusal:
            return f"{cls.__name__}.{hook}: {refusal}"
        reads |= getattr(reader, "reads", set())
        writes |= getattr(reader, "writes", set())
    return InstanceHookUse(reads=frozenset(reads), writes=frozenset(writes))


class _RowHookReader(_Reader):
    """`before_import_row(self, row, **kwargs)`: the row and the keyword arguments are
    the hook's to read, the row's items its to write; the Resource is not to be used."""

    hook = ROW_HOOK
    methods = ROW_HOOK_METHODS

    def __init__(self, function: FunctionType, node: ast.FunctionDef, owner: type) -> None:
        super().__init__(function, node, owner)
        # The hook's parameters after self: (row, ...) here, (instance, row, ...) below.
        self.after_self = [a.arg for a in node.args.posonlyargs + node.args.args][1:]
        self.row_name = self.after_self[0] if self.after_self else None
        self.locals |= self.passed_on  # **kwargs: a fresh dict per call, read freely
        self.passed_on = set()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == self.self_name:
            self._refuse(f"reads self.{node.attr} (the Resource)")
            return
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if _is_super_call(func) and func.attr != self.hook:  # type: ignore[attr-defined]
            self._refuse(f"calls super().{func.attr}()")  # type: ignore[attr-defined]
            return
        if self._module_function(func):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                self.visit(argument)
            return
        super().visit_Call(node)

    def _module_function(self, func: ast.expr) -> bool:
        """`re.sub`, `unicodedata.normalize`, ...: the module as the hook's module has it."""
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
            return False
        name = func.value.id
        if name in self.locals or name not in self.function.__globals__:
            return False
        module = self.function.__globals__[name]
        allowed = PURE_MODULE_FUNCTIONS.get(getattr(module, "__name__", ""), set())
        return isinstance(module, ModuleType) and func.attr in allowed

    def _target(self, target: ast.expr) -> None:
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id == self.row_name
        ):
            self.visit(target.slice)
            return
        super()._target(target)


class _InstanceHookReader(_RowHookReader):
    """`before_save_instance(self, instance, row, **kwargs)`: the instance's attributes
    are the hook's to read and assign, the row and the keyword arguments its to read;
    the instance itself goes nowhere (but on to `super()`), the row is not written."""

    hook = INSTANCE_HOOK
    methods = INSTANCE_HOOK_METHODS

    def __init__(self, function: FunctionType, node: ast.FunctionDef, owner: type) -> None:
        super().__init__(function, node, owner)
        self.instance_name = self.after_self[0] if self.after_self else None
        self.row_name = None  # the row is read only: its items are not targets here
        self.reads: set[str] = set()
        self.writes: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == self.instance_name:
            self._refuse(f"uses {node.id!r} other than reading or setting its fields")
            return
        super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == self.instance_name:
            self.reads.add(node.attr)
            return
        super().visit_Attribute(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Attribute):
            self.visit_Attribute(node.target)  # `instance.x += ...` reads it first
        super().visit_AugAssign(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if _is_super_call(func) and func.attr == self.hook:  # type: ignore[attr-defined]
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                inner = argument.value if isinstance(argument, ast.Starred) else argument
                if not (isinstance(inner, ast.Name) and inner.id == self.instance_name):
                    self.visit(inner)
            return
        super().visit_Call(node)

    def _target(self, target: ast.expr) -> None:
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == self.instance_name
        ):
            self.writes.add(target.attr)
            return
        if isinstance(target, ast.Name) and target.id == self.instance_name:
            self._refuse(f"assigns to {target.id!r}")
            return
        super()._target(target)
