"""Abstract interpretation of a revision's Python: the static analysis.

The walker follows ``upgrade()`` (or ``downgrade()``) statement by statement,
evaluating expressions to abstract values (:mod:`.values`) instead of running
them. Calls into alembic and SQLAlchemy are given meaning by :mod:`.alembic_ops`,
:mod:`.sqlalchemy_api` and :mod:`.execution`; calls to functions defined in the
revision are followed with their arguments bound. Branches are walked on both
sides unless the target dialect settles them, and code that runs only when data
read at run time says so is marked, so what it does also counts as UN101.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import cast

from . import (
    alembic_ops,
    conditions,
    declared,
    execution,
    plugins,
    pybuiltins,
    sqlalchemy_api,
    strings,
)
from . import effects as fx
from .codes import UNANALYSABLE
from .declared import Declaration
from .effects import Effect
from .frames import Args, Scope, Situation
from .recorder import Recorder
from .values import (
    BIND,
    OP,
    UNKNOWN,
    BatchOps,
    BuiltString,
    Const,
    External,
    Handle,
    Library,
    LocalClass,
    LocalFunction,
    OpMethod,
    OrmEntity,
    OrmInstance,
    RuntimeData,
    Seq,
    Value,
    choice,
    is_runtime,
    iterate,
    options,
    runtime_source,
    unpack,
)

#: Packages whose names the analysis models (or knows to be harmless).
_KNOWN_PACKAGES = frozenset({"alembic", "sqlalchemy", "sqlmodel"}) | frozenset(sys.stdlib_module_names)
#: Deepest chain of revision-local helper calls followed.
MAX_DEPTH = 12
#: Most helper calls followed in one analysis; beyond that the rest is UN101.
MAX_CALLS = 500


class _Ends:
    """Marker: the block always leaves here (return/raise)."""


ENDS = _Ends()


def import_value(dotted: str) -> Value:
    """What an imported dotted name is to the analysis."""
    if dotted == "alembic.op":
        return OP
    if dotted == "alembic.context":
        return Handle("context")
    root = dotted.split(".", 1)[0]
    if root in plugins.PACKAGES:
        return plugins.value_of(dotted) or Library(dotted)
    return Library(dotted) if root in _KNOWN_PACKAGES else External(dotted)


class Interpreter:
    """Walks one revision module; effects go to ``recorder``."""

    def __init__(self, tree: ast.Module, recorder: Recorder, dialect: str | None, sql_dialect: str | None,
                 declarations: tuple[Declaration, ...] = ()):
        self.tree = tree
        self.recorder = recorder
        #: The project's declared helpers (declared.py).
        self.declarations = declarations
        #: SQLAlchemy dialect name the revision will run on (None: any).
        self.dialect = dialect
        #: The same as a sqlglot dialect name.
        self.sql_dialect = sql_dialect
        self.module = Scope({})
        self._op_method_strings: tuple[str, ...] | None = None
        self._active: list[ast.AST] = []
        self._calls = 0
        self._load_module()

    @property
    def op_method_strings(self) -> tuple[str, ...]:
        """String constants in the module that name op methods (getattr candidates);
        computed on first use, which is rare."""
        if self._op_method_strings is None:
            self._op_method_strings = alembic_ops.method_names_in(self.tree)
        return self._op_method_strings

    # --- entry points ------------------------------------------------------------

    def _load_module(self) -> None:
        muted, self.recorder.muted = self.recorder.muted, True
        try:
            self.walk(self.tree.body, self.module, Situation())
        finally:
            self.recorder.muted = muted

    def analyse(self, function_name: str) -> bool:
        """Walk the module-level function ``function_name``; False when there is none."""
        entry = self.module.names.get(function_name)
        if entry is None:
            return False
        if not isinstance(entry, LocalFunction):
            line = getattr(entry, "lineno", 1)
            self.recorder.add(fx.unanalysable(f"{function_name} is not a plain function"), line)
            return True
        self.call_local(entry, Args([], {}, [], {}), None, Situation())
        return True

    # --- recording ------------------------------------------------------------------

    def emit(self, effect: Effect, node: ast.AST, sit: Situation) -> None:
        """Record ``effect`` for ``node``; code that runs only on run-time data adds UN101."""
        line = sit.line or int(getattr(node, "lineno", 1))
        message = effect.message
        if sit.via:
            message += f" (in {' -> '.join(sit.via)}())"
        self.recorder.add(replace(effect, message=message), line)
        if sit.runtime_reason and effect.code != UNANALYSABLE and effect.resolution is None:
            self.recorder.add(fx.unanalysable(f"whether it runs depends on {sit.runtime_reason}"), line)

    def name(self, value: Value, node: ast.AST, sit: Situation, what: str = "table") -> str | None:
        """Display text for a table or column name argument.

        A name read from the database at run time (the inspector, a query) makes
        the operation UN101 as well: which objects it touches is not in the file.
        """
        source = runtime_source(value)
        if source:
            self.emit(fx.unanalysable(f"the {what} name is read from {source} at run time"), node, sit)
            return None
        return sqlalchemy_api.name_text(value)

    # --- statements ---------------------------------------------------------------------

    def walk(self, body: list[ast.stmt], scope: Scope, sit: Situation) -> bool:
        """Walk a block; True when it always ends in return/raise."""
        for stmt in body:
            handler = self._STATEMENTS.get(type(stmt))
            outcome = handler(self, stmt, scope, sit) if handler else None
            if outcome is ENDS:
                return True
            if isinstance(outcome, Situation):
                sit = outcome  # a data-dependent early return guards the rest
        return False

    def _expr_stmt(self, node: ast.Expr, scope: Scope, sit: Situation):
        if isinstance(node.value, ast.Call):
            self.call(node.value, scope, sit, discarded=True)
        else:
            self.eval(node.value, scope, sit)

    def _assign(self, node: ast.Assign, scope: Scope, sit: Situation):
        value = self.eval(node.value, scope, sit)
        for target in node.targets:
            self.assign(target, value, scope, sit)

    def _ann_assign(self, node: ast.AnnAssign, scope: Scope, sit: Situation):
        if node.value is not None:
            self.assign(node.target, self.eval(node.value, scope, sit), scope, sit)

    def _aug_assign(self, node: ast.AugAssign, scope: Scope, sit: Situation):
        value = self.eval(node.value, scope, sit)
        if isinstance(node.target, ast.Name):
            current = scope.lookup(node.target.id) or UNKNOWN
            scope.names[node.target.id] = self.binop(current, node.op, value)
        else:
            self.assign(node.target, value, scope, sit)

    def _if(self, node: ast.If, scope: Scope, sit: Situation):
        test = self.eval(node.test, scope, sit)
        if isinstance(test, conditions.Decided):
            return ENDS if self.walk(node.body if test.truth else node.orelse, scope, sit) else None
        inner = sit.under_runtime(runtime_source(test) or "") if is_runtime(test) else sit
        body, orelse = scope.fork(), scope.fork()
        ends_body = self.walk(node.body, body, inner)
        ends_else = self.walk(node.orelse, orelse, inner)
        live = [arm for arm, ends in ((body, ends_body), (orelse, ends_else)) if not ends]
        scope.join(live or [body, orelse])
        if ends_body and ends_else:
            return ENDS
        if (ends_body or ends_else) and inner is not sit:
            return inner
        return None

    def _for(self, node: ast.For | ast.AsyncFor, scope: Scope, sit: Situation):
        iterable = self.eval(node.iter, scope, sit)
        inner = sit.under_runtime(f"a loop over {runtime_source(iterable)}") if is_runtime(iterable) else sit
        body = scope.fork()
        self.assign(node.target, iterate(iterable), body, inner)
        self.walk(node.body, body, inner)
        orelse = scope.fork()
        self.walk(node.orelse, orelse, sit)
        scope.join([scope.fork(), body, orelse])

    def _while(self, node: ast.While, scope: Scope, sit: Situation):
        test = self.eval(node.test, scope, sit)
        inner = sit.under_runtime(runtime_source(test) or "") if is_runtime(test) else sit
        body = scope.fork()
        self.walk(node.body, body, inner)
        self.walk(node.orelse, body, sit)
        scope.join([scope.fork(), body])

    def _with(self, node: ast.With | ast.AsyncWith, scope: Scope, sit: Situation):
        for item in node.items:
            entered = sqlalchemy_api.entered(self.eval(item.context_expr, scope, sit))
            if item.optional_vars is not None:
                self.assign(item.optional_vars, entered, scope, sit)
        return ENDS if self.walk(node.body, scope, sit) else None

    def _try(self, node: ast.Try, scope: Scope, sit: Situation):
        arms = []
        for block in (node.body + node.orelse, *[h.body for h in node.handlers]):
            arm = scope.fork()
            self.walk(block, arm, sit)
            arms.append(arm)
        scope.join(arms)
        self.walk(node.finalbody, scope, sit)

    def _match(self, node: ast.Match, scope: Scope, sit: Situation):
        subject = self.eval(node.subject, scope, sit)
        inner = sit.under_runtime(runtime_source(subject) or "") if is_runtime(subject) else sit
        arms = [scope.fork()]
        for case in node.cases:
            arm = scope.fork()
            self.walk(case.body, arm, inner)
            arms.append(arm)
        scope.join(arms)

    def _return(self, node: ast.Return, scope: Scope, sit: Situation):
        scope.returns.append(self.eval(node.value, scope, sit) if node.value else Const(None))
        return ENDS

    def _raise(self, node: ast.Raise, scope: Scope, sit: Situation):
        return ENDS

    def _function_def(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope, sit: Situation):
        scope.names[node.name] = LocalFunction(node, scope)

    def _class_def(self, node: ast.ClassDef, scope: Scope, sit: Situation):
        scope.names[node.name] = sqlalchemy_api.class_value(self, node, scope, sit)

    def _import(self, node: ast.Import, scope: Scope, sit: Situation):
        for alias in node.names:
            if alias.asname:
                scope.names[alias.asname] = import_value(alias.name)
            else:
                root = alias.name.split(".", 1)[0]
                scope.names[root] = import_value(root)

    def _import_from(self, node: ast.ImportFrom, scope: Scope, sit: Situation):
        base = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name != "*":
                dotted = f"{base}.{alias.name}" if node.level == 0 else f"{base}{alias.name}"
                scope.names[alias.asname or alias.name] = import_value(dotted)

    def _assert(self, node: ast.Assert, scope: Scope, sit: Situation):
        self.eval(node.test, scope, sit)

    _STATEMENTS: dict[type, Callable] = {
        ast.Expr: _expr_stmt,
        ast.Assign: _assign,
        ast.AnnAssign: _ann_assign,
        ast.AugAssign: _aug_assign,
        ast.If: _if,
        ast.For: _for,
        ast.AsyncFor: _for,
        ast.While: _while,
        ast.With: _with,
        ast.AsyncWith: _with,
        ast.Try: _try,
        ast.TryStar: _try,
        ast.Match: _match,
        ast.Return: _return,
        ast.Raise: _raise,
        ast.FunctionDef: _function_def,
        ast.AsyncFunctionDef: _function_def,
        ast.ClassDef: _class_def,
        ast.Import: _import,
        ast.ImportFrom: _import_from,
        ast.Assert: _assert,
    }

    # --- assignment ---------------------------------------------------------------------

    def assign(self, target: ast.expr, value: Value, scope: Scope, sit: Situation) -> None:
        """Bind ``value`` to an assignment target."""
        if isinstance(target, ast.Name):
            scope.names[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            plain = [t for t in target.elts if not isinstance(t, ast.Starred)]
            parts = unpack(value, len(target.elts)) if len(plain) == len(target.elts) else None
            for i, element in enumerate(target.elts):
                inner = element.value if isinstance(element, ast.Starred) else element
                self.assign(inner, parts[i] if parts else _derived(value), scope, sit)
        elif isinstance(target, ast.Attribute):
            self.set_attribute(self.eval(target.value, scope, sit), target.attr, target, sit)
        elif isinstance(target, ast.Subscript):
            self.eval(target.value, scope, sit)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, _derived(value), scope, sit)

    def set_attribute(self, obj: Value, attr: str, node: ast.AST, sit: Situation) -> None:
        """``obj.attr = ...``: on an instance loaded through the ORM, an UPDATE at flush.

        Not UN101 even inside a loop over query results: iterating the loaded rows
        is how an ORM update is written, and what it writes (table, column) is known.
        """
        for opt in options(obj):
            if isinstance(opt, OrmInstance) and opt.persistent:
                table = sqlalchemy_api.name_text(opt.table)
                self.emit(fx.updates_rows(table, attr, how="through the ORM"), node,
                          replace(sit, runtime_reason=None))

    # --- expressions --------------------------------------------------------------------

    def eval(self, node: ast.expr | None, scope: Scope, sit: Situation) -> Value:
        """The abstract value of an expression (recording any effects its calls have)."""
        if node is None:
            return Const(None)
        handler = self._EXPRESSIONS.get(type(node))
        return handler(self, node, scope, sit) if handler else UNKNOWN

    def _constant(self, node: ast.Constant, scope: Scope, sit: Situation) -> Value:
        return Const(node.value)

    def _name(self, node: ast.Name, scope: Scope, sit: Situation) -> Value:
        found = scope.lookup(node.id)
        if found is not None:
            return found
        return Library(f"builtins.{node.id}") if hasattr(builtins, node.id) else UNKNOWN

    def _attribute(self, node: ast.Attribute, scope: Scope, sit: Situation) -> Value:
        return choice([self.attribute(opt, node.attr) for opt in options(self.eval(node.value, scope, sit))])

    def attribute(self, base: Value, attr: str) -> Value:
        """``base.attr`` for one alternative of ``base``."""
        if isinstance(base, Library):
            return import_value(f"{base.dotted}.{attr}")
        if isinstance(base, External):
            return External(f"{base.dotted}.{attr}")
        if isinstance(base, (BatchOps,)) or base == OP:
            return OpMethod(base, (attr,))
        if isinstance(base, LocalClass):
            return sqlalchemy_api.class_attribute(base, attr)
        return sqlalchemy_api.attribute(base, attr)

    def _joined_str(self, node: ast.JoinedStr, scope: Scope, sit: Situation) -> Value:
        literals, fields, pending = [], [], ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                pending += str(part.value)
            else:
                literals.append(pending)
                pending = ""
                fields.append(self.eval(part.value, scope, sit))  # type: ignore[attr-defined]
        literals.append(pending)
        return strings.interpolated(literals, fields, "an f-string")

    def _bin_op(self, node: ast.BinOp, scope: Scope, sit: Situation) -> Value:
        return self.binop(self.eval(node.left, scope, sit), node.op, self.eval(node.right, scope, sit))

    def binop(self, left: Value, op: ast.operator, right: Value) -> Value:
        """``left <op> right``: string building is modelled, arithmetic is not."""
        if isinstance(op, ast.Mod) and isinstance(left, Const) and isinstance(left.value, str):
            return strings.percent(left.value, right)
        stringy = (BuiltString,)
        if isinstance(op, ast.Add) and any(
            isinstance(v, stringy) or (isinstance(v, Const) and isinstance(v.value, str)) for v in (left, right)
        ):
            how = "concatenation"
            return strings.build([left, right], how)
        if isinstance(left, Seq) or isinstance(right, Seq) or (
            isinstance(op, ast.Add) and _is_sequence(left) and _is_sequence(right)
        ):
            return Seq((*_items(left), *_items(right)))
        if is_runtime(left) or is_runtime(right):
            return _derived(left if is_runtime(left) else right)
        return UNKNOWN

    def _bool_op(self, node: ast.BoolOp, scope: Scope, sit: Situation) -> Value:
        values = [self.eval(v, scope, sit) for v in node.values]
        return conditions.combine(isinstance(node.op, ast.And), values)

    def _unary_op(self, node: ast.UnaryOp, scope: Scope, sit: Situation) -> Value:
        operand = self.eval(node.operand, scope, sit)
        if isinstance(node.op, ast.Not):
            return conditions.negate(operand)
        return operand if is_runtime(operand) else UNKNOWN

    def _compare(self, node: ast.Compare, scope: Scope, sit: Situation) -> Value:
        left = self.eval(node.left, scope, sit)
        rights = [self.eval(c, scope, sit) for c in node.comparators]
        if len(rights) != 1:
            return _derived(choice([left, *rights])) if any(map(is_runtime, [left, *rights])) else UNKNOWN
        return conditions.compare(left, node.ops[0], rights[0], self.dialect)

    def _if_exp(self, node: ast.IfExp, scope: Scope, sit: Situation) -> Value:
        test = self.eval(node.test, scope, sit)
        if isinstance(test, conditions.Decided):
            return self.eval(node.body if test.truth else node.orelse, scope, sit)
        inner = sit.under_runtime(runtime_source(test) or "") if is_runtime(test) else sit
        return choice([self.eval(node.body, scope, inner), self.eval(node.orelse, scope, inner)])

    def _sequence(self, node: ast.List | ast.Tuple | ast.Set, scope: Scope, sit: Situation) -> Value:
        items = [self.eval(e, scope, sit) for e in node.elts]
        if all(isinstance(i, Const) for i in items) and not any(isinstance(e, ast.Starred) for e in node.elts):
            raw = [i.value for i in items]  # type: ignore[attr-defined]
            try:
                if isinstance(node, ast.Tuple):
                    return Const(tuple(raw))
                return Const(frozenset(raw) if isinstance(node, ast.Set) else raw)
            except TypeError:
                return Seq(tuple(items))
        return Seq(tuple(items))

    def _dict(self, node: ast.Dict, scope: Scope, sit: Situation) -> Value:
        keys = [self.eval(k, scope, sit) if k is not None else UNKNOWN for k in node.keys]
        values = [self.eval(v, scope, sit) for v in node.values]
        if all(isinstance(x, Const) for x in keys + values):
            try:
                return Const({k.value: v.value for k, v in zip(keys, values)})  # type: ignore[attr-defined]
            except TypeError:
                return UNKNOWN
        return UNKNOWN

    def _subscript(self, node: ast.Subscript, scope: Scope, sit: Situation) -> Value:
        base = self.eval(node.value, scope, sit)
        index = self.eval(node.slice, scope, sit)
        if base == pybuiltins.MODULE_NAMESPACE:
            return pybuiltins.module_lookup(self, index)
        return choice([_subscript(opt, index) for opt in options(base)])

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       scope: Scope, sit: Situation) -> Value:
        inner_scope, inner, source = scope.fork(), sit, None
        for generator in node.generators:
            iterable = self.eval(generator.iter, inner_scope, inner)
            if is_runtime(iterable):
                source = runtime_source(iterable)
                inner = inner.under_runtime(f"a loop over {source}")
            self.assign(generator.target, iterate(iterable), inner_scope, inner)
            for condition in generator.ifs:
                self.eval(condition, inner_scope, inner)
        if isinstance(node, ast.DictComp):
            self.eval(node.key, inner_scope, inner)
            element = self.eval(node.value, inner_scope, inner)
        else:
            element = self.eval(node.elt, inner_scope, inner)
        return RuntimeData(source) if source else Seq((element,), exact=False)

    def _named_expr(self, node: ast.NamedExpr, scope: Scope, sit: Situation) -> Value:
        value = self.eval(node.value, scope, sit)
        self.assign(node.target, value, scope, sit)
        return value

    def _passthrough(self, node: ast.Await | ast.Starred | ast.FormattedValue, scope: Scope, sit: Situation) -> Value:
        return self.eval(node.value, scope, sit)

    def _yield(self, node: ast.Yield | ast.YieldFrom, scope: Scope, sit: Situation) -> Value:
        if node.value is not None:
            self.eval(node.value, scope, sit)
        return UNKNOWN

    def _lambda(self, node: ast.Lambda, scope: Scope, sit: Situation) -> Value:
        # Modelled as a one-line local function so that passing it on still counts.
        fn = ast.FunctionDef(name="<lambda>", args=node.args, body=[ast.Return(node.body)],
                             decorator_list=[], returns=None)
        ast.copy_location(fn, node)
        ast.fix_missing_locations(fn)
        return LocalFunction(fn, scope)

    # --- calls --------------------------------------------------------------------------

    def _call(self, node: ast.Call, scope: Scope, sit: Situation) -> Value:
        return self.call(node, scope, sit)

    def call(self, node: ast.Call, scope: Scope, sit: Situation, discarded: bool = False) -> Value:
        """Evaluate a call; ``discarded`` when its result is thrown away (called for effect)."""
        if isinstance(node.func, ast.Attribute):
            receiver = self.eval(node.func.value, scope, sit)
            args = self.arguments(node, scope, sit)
            return choice([self.call_method(opt, node.func.attr, args, node, sit, discarded)
                           for opt in options(receiver)])
        callee = self.eval(node.func, scope, sit)
        args = self.arguments(node, scope, sit)
        return choice([self.call_value(opt, args, node, sit, discarded) for opt in options(callee)])

    def arguments(self, node: ast.Call, scope: Scope, sit: Situation) -> Args:
        """Evaluate a call's arguments."""
        args = Args([], {}, [], {})
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                args.starred = True
            value = self.eval(arg.value if isinstance(arg, ast.Starred) else arg, scope, sit)
            if not args.starred:
                # Only arguments before a *spread keep their positions.
                args.positional.append(value)
                args.positional_nodes.append(arg)
        for keyword in node.keywords:
            value = self.eval(keyword.value, scope, sit)
            if keyword.arg is None:
                args.starred = True
            else:
                args.keywords[keyword.arg] = value
                args.keyword_nodes[keyword.arg] = keyword.value
        return args

    def call_method(self, receiver: Value, name: str, args: Args, node: ast.Call,
                    sit: Situation, discarded: bool = False) -> Value:
        """``receiver.name(*args)`` for one alternative of the receiver."""
        if receiver == OP or isinstance(receiver, BatchOps):
            return alembic_ops.call(self, receiver, name, args, node, sit)
        if isinstance(receiver, (Library, External, LocalClass)):
            return self.call_value(self.attribute(receiver, name), args, node, sit, discarded)
        if isinstance(receiver, (Const, BuiltString)) and (
            isinstance(receiver, BuiltString) or isinstance(receiver.value, str)
        ):
            return strings.str_method(receiver, name, args.positional, args.keywords)
        if receiver == conditions.DIALECT_NAME:
            return conditions.dialect_name_method(name, args.positional, self.dialect)
        handled = sqlalchemy_api.call_method(self, receiver, name, args, node, sit)
        if handled is not None:
            return handled
        return self._opaque_method(receiver, name, args, node, sit, discarded)

    def _opaque_method(self, receiver: Value, name: str, args: Args, node: ast.Call,
                       sit: Situation, discarded: bool) -> Value:
        """A method of an object the analysis cannot identify: fail safe on the
        names that execute SQL or delete, wherever they are called."""
        if name in execution.EXECUTE_METHODS and args.positional:
            return execution.execute(self, args.positional[0], node, sit)
        if name == "delete" and discarded and not args.positional:
            self.emit(fx.deletes_rows(None, how="calls .delete() on an object the classifier "
                                      "cannot identify, which may delete rows from"), node, sit)
        self.invoke_passed_callables(args, node, sit)
        return _derived(receiver) if is_runtime(receiver) else UNKNOWN

    def call_value(self, callee: Value, args: Args, node: ast.Call, sit: Situation,
                   discarded: bool = False) -> Value:
        """``callee(*args)`` for one alternative of the callee."""
        if isinstance(callee, LocalFunction):
            return self.call_local(callee, args, node, sit)
        if isinstance(callee, OpMethod):
            return alembic_ops.call_method_value(self, callee, args, node, sit)
        if isinstance(callee, LocalClass):
            return self.instantiate(callee, args, node, sit)
        if isinstance(callee, OrmEntity):
            return OrmInstance(callee.table, persistent=False)
        if isinstance(callee, Library):
            return self._call_library(callee, args, node, sit, discarded)
        if isinstance(callee, Handle):
            return sqlalchemy_api.call_handle(self, callee, args, node, sit)
        if isinstance(callee, External):
            return self._call_external(callee, args, node, sit, discarded)
        if any(_is_db_handle(v) for v in args.values()):
            self.emit(fx.unanalysable("passes op or a connection to code the classifier cannot follow"), node, sit)
        self.invoke_passed_callables(args, node, sit)
        return UNKNOWN

    def _call_library(self, callee: Library, args: Args, node: ast.Call, sit: Situation,
                      discarded: bool) -> Value:
        if callee.root == "builtins":
            return pybuiltins.call(self, callee.leaf, args, node, sit)
        if callee.root in {"sqlalchemy", "sqlmodel", "alembic"}:
            return sqlalchemy_api.call_function(self, callee, args, node, sit)
        if callee.root in plugins.PACKAGES:
            modelled = plugins.call(self, callee.dotted, args, node, sit)
            if modelled is not None:
                return modelled
            return self._call_external(External(callee.dotted), args, node, sit, discarded)
        if callee.dotted in {"textwrap.dedent", "inspect.cleandoc"} and args.positional:
            return strings.str_method(args.positional[0], "strip", [], {}) if isinstance(
                args.positional[0], BuiltString) else _apply_const(callee.dotted, args.positional[0])
        self.invoke_passed_callables(args, node, sit)
        runtime = [v for v in args.values() if is_runtime(v)]
        return _derived(runtime[0]) if runtime else UNKNOWN

    def _call_external(self, callee: External, args: Args, node: ast.Call, sit: Situation,
                       discarded: bool) -> Value:
        # Code in the application's modules is out of sight. It matters when it
        # gets a handle on the database, or is called purely for its effect.
        covering = declared.find(self.declarations, callee.dotted)
        if discarded or any(_is_db_handle(v) for v in args.values()):
            effect = fx.unanalysable(f"calls {callee.dotted}, imported from another module, "
                                     "which may execute SQL")
            if covering is not None:
                effect = replace(effect, resolution=covering.resolution)
            self.emit(effect, node, sit)
        self.invoke_passed_callables(args, node, sit)
        # What a declared call returns stays covered by the declaration (a client's
        # pipeline, a helper's handle); anything else is unknown.
        return External(f"{callee.dotted}()") if covering is not None else UNKNOWN

    def invoke_passed_callables(self, args: Args, node: ast.Call, sit: Situation) -> None:
        """Callables handed to code the analysis cannot follow (``map(op.drop_table, ...)``)
        are assumed to be called, with arguments unknown."""
        for value in args.values():
            for opt in options(value):
                if isinstance(opt, LocalFunction):
                    self.call_local(opt, Args([], {}, [], {}, starred=True), node, sit)
                elif isinstance(opt, OpMethod):
                    self.emit(fx.unanalysable("an op method is passed as a callable"), node, sit)
                    alembic_ops.call_method_value(self, opt, Args([], {}, [], {}, starred=True), node, sit)

    def call_local(self, fn: LocalFunction, args: Args, node: ast.Call | None, sit: Situation) -> Value:
        """Follow a call into a function defined in the revision."""
        if fn.node in self._active:
            return UNKNOWN  # recursion: the first activation covers it
        self._calls += 1
        if len(self._active) >= MAX_DEPTH or self._calls > MAX_CALLS:
            self.emit(fx.unanalysable(f"calls to {fn.node.name}() nest too deeply to follow"), node or fn.node, sit)
            return UNKNOWN
        # values.py cannot name Scope (frames.py imports values): a Function's scope
        # is always one.
        scope = Scope({}, cast(Scope, fn.scope) or self.module)
        self._bind_parameters(fn.node.args, args, scope, sit)
        inner = sit
        if node is not None:
            inner = replace(sit, line=sit.line or node.lineno, via=(*sit.via, fn.node.name))
        self._active.append(fn.node)
        try:
            self.walk(fn.node.body, scope, inner)
        finally:
            self._active.pop()
        return choice(scope.returns) if scope.returns else Const(None)

    def _bind_parameters(self, spec: ast.arguments, args: Args, scope: Scope, sit: Situation) -> None:
        params = [*spec.posonlyargs, *spec.args]
        defaults = dict(zip([p.arg for p in params][len(params) - len(spec.defaults):], spec.defaults))
        defaults.update({p.arg: d for p, d in zip(spec.kwonlyargs, spec.kw_defaults) if d is not None})
        for i, param in enumerate(params):
            if i < len(args.positional):
                scope.names[param.arg] = args.positional[i]
            elif param.arg in args.keywords:
                scope.names[param.arg] = args.keywords[param.arg]
            elif param.arg in defaults and not args.starred:
                scope.names[param.arg] = self.eval(defaults[param.arg], scope, sit)
            else:
                scope.names[param.arg] = UNKNOWN
        for param in spec.kwonlyargs:
            if param.arg in args.keywords:
                scope.names[param.arg] = args.keywords[param.arg]
            elif param.arg in defaults and not args.starred:
                scope.names[param.arg] = self.eval(defaults[param.arg], scope, sit)
            else:
                scope.names[param.arg] = UNKNOWN
        if spec.vararg:
            scope.names[spec.vararg.arg] = Seq(tuple(args.positional[len(params):]))
        if spec.kwarg:
            scope.names[spec.kwarg.arg] = UNKNOWN

    def instantiate(self, cls: LocalClass, args: Args, node: ast.Call, sit: Situation) -> Value:
        """A class defined in the revision: its methods may run anything, so each is
        walked once with unknown arguments (fail safe) and effects are reported at
        the line that creates the instance."""
        for stmt in cls.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.call_local(LocalFunction(stmt),
                                Args([], {}, [], {}, starred=True), node, sit)
        return UNKNOWN

    _EXPRESSIONS: dict[type, Callable] = {
        ast.Constant: _constant,
        ast.Name: _name,
        ast.Attribute: _attribute,
        ast.JoinedStr: _joined_str,
        ast.BinOp: _bin_op,
        ast.BoolOp: _bool_op,
        ast.UnaryOp: _unary_op,
        ast.Compare: _compare,
        ast.IfExp: _if_exp,
        ast.List: _sequence,
        ast.Tuple: _sequence,
        ast.Set: _sequence,
        ast.Dict: _dict,
        ast.Subscript: _subscript,
        ast.ListComp: _comprehension,
        ast.SetComp: _comprehension,
        ast.GeneratorExp: _comprehension,
        ast.DictComp: _comprehension,
        ast.NamedExpr: _named_expr,
        ast.Await: _passthrough,
        ast.Starred: _passthrough,
        ast.FormattedValue: _passthrough,
        ast.Yield: _yield,
        ast.YieldFrom: _yield,
        ast.Lambda: _lambda,
        ast.Call: _call,
    }


# --- helpers -------------------------------------------------------------------------------


def _derived(value: Value) -> Value:
    """Something computed from ``value``: still run-time data if it was."""
    source = runtime_source(value)
    return RuntimeData(source) if source else UNKNOWN


def _is_db_handle(value: Value) -> bool:
    return any(
        opt == OP or opt == BIND or isinstance(opt, BatchOps)
        or (isinstance(opt, Handle) and opt.role in {"session", "context"})
        for opt in options(value)
    )


def _is_sequence(value: Value) -> bool:
    return isinstance(value, Seq) or (isinstance(value, Const) and isinstance(value.value, (list, tuple)))


def _items(value: Value) -> tuple[Value, ...]:
    if isinstance(value, Seq):
        return value.items
    if isinstance(value, Const) and isinstance(value.value, (list, tuple)):
        return tuple(Const(v) for v in value.value)
    return (UNKNOWN,)


def _subscript(base: Value, index: Value) -> Value:
    if is_runtime(base):
        return _derived(base)
    if isinstance(base, Const) and isinstance(index, Const):
        try:
            return Const(base.value[index.value])  # type: ignore[index]
        except (TypeError, KeyError, IndexError):
            return UNKNOWN
    if isinstance(base, Seq) and isinstance(index, Const) and isinstance(index.value, int):
        try:
            return base.items[index.value]
        except IndexError:
            return UNKNOWN
    return UNKNOWN


def _apply_const(dotted: str, value: Value) -> Value:
    if isinstance(value, Const) and isinstance(value.value, str):
        import inspect
        import textwrap

        fn = textwrap.dedent if dotted == "textwrap.dedent" else inspect.cleandoc
        return Const(fn(value.value))
    return UNKNOWN

