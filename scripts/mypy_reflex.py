"""A mypy plugin that tells mypy what Reflex 0.10 does at run time, where Reflex's annotations only reach pyright.

Two things, both read by `[tool.mypy] plugins` in pyproject.toml:

- ``@rx.event`` is the class ``EventNamespace``, whose ``__new__`` returns an ``EventCallback``. Mypy ignores a
  ``__new__`` that returns another class and types every handler as ``EventNamespace`` ("not callable"). Here the
  decorator's result is ``EventCallback[<the handler's arguments after self>]``, as Reflex declares it.
- A field of a state, read on the class (``OrdersState.orders`` in a page), is a ``Var`` at run time (the state's
  metaclass makes every annotated field a ``Field``). Here it has the type ``Field.__get__`` gives it on the class:
  ``ArrayVar`` for a list, ``StringVar`` for a str, ``ObjectVar`` for a dict or a TypedDict, and so on; read on an
  instance (``self.orders`` in a handler) it keeps its declared type.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import ARG_OPT, ARG_POS, StrExpr, TypeInfo, Var
from mypy.options import Options
from mypy.plugin import AttributeContext, CheckerPluginInterface, FunctionContext, MethodContext, Plugin
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    NoneType,
    TupleType,
    Type,
    TypedDictType,
    TypeOfAny,
    UnionType,
    get_proper_type,
)

EVENT_DECORATOR = "reflex_base.event.EventNamespace"
EVENT_CALLBACK = "reflex_base.event.EventCallback"
BASE_STATE = "reflex.state.BaseState"
VAR_CLASS = "reflex_base.vars.base.Var"
OBJECT_VAR_ITEM = "reflex_base.vars.object.ObjectVar.__getitem__"


def _instance(fullname: str, args: list[Type]) -> Instance:
    """``fullname[*args]`` for a class of Reflex (the checker's own lookup only reaches modules a file imports)."""
    symbol = _PLUGIN.lookup_fully_qualified(fullname)
    assert symbol is not None and isinstance(symbol.node, TypeInfo), fullname
    return Instance(symbol.node, args)


def _event_callback(arguments: list[Type]) -> Type:
    """``EventCallback[*arguments]`` (mypy spells a class generic in a TypeVarTuple with its arguments flat)."""
    return _instance(EVENT_CALLBACK, arguments)


def _handler_arguments(handler: CallableType) -> list[Type] | None:
    """The positional arguments of a handler after ``self``; None when it takes ``*args`` or keyword-only ones."""
    if any(kind not in (ARG_POS, ARG_OPT) for kind in handler.arg_kinds):
        return None
    return list(handler.arg_types[1:])


def event_decorator(ctx: FunctionContext) -> Type:
    """``rx.event(handler)`` and ``rx.event(background=True)(handler)``."""
    if ctx.arg_types and ctx.arg_types[0]:
        handler = get_proper_type(ctx.arg_types[0][0])
        if isinstance(handler, CallableType):
            arguments = _handler_arguments(handler)
            if arguments is not None:
                return _event_callback(arguments)
        return _event_callback([])
    # rx.event(background=True): Reflex's overload returns a decorator `(handler: (State, *P) -> Any) -> ...`
    # whose result names EventCallback through a class attribute of EventNamespace, which mypy cannot read as a type:
    # the same decorator, returning EventCallback[*P].
    decorator = get_proper_type(ctx.default_return_type)
    if isinstance(decorator, CallableType) and decorator.arg_types:
        handler = get_proper_type(decorator.arg_types[0])
        if isinstance(handler, CallableType) and len(handler.arg_types) == 2:
            variadic = handler.arg_types[1]  # *args: *P
            return decorator.copy_modified(ret_type=_instance(EVENT_CALLBACK, [variadic]))
    return AnyType(TypeOfAny.special_form)


def _var_type(api: CheckerPluginInterface, declared: Type) -> Type | None:
    """The type of ``Field[declared].__get__(None, State)``: which ``Var`` a state field is on the class."""
    proper = get_proper_type(declared)
    if isinstance(proper, UnionType):  # `X | None` is the Var of X (Reflex's overloads take both alike)
        items = [get_proper_type(item) for item in proper.items if not isinstance(get_proper_type(item), NoneType)]
        if len(items) == 1:
            proper = items[0]
    builtin = api.named_generic_type
    named = _instance
    if isinstance(proper, NoneType):
        return named("reflex_base.vars.base.Var", [declared])
    if isinstance(proper, TypedDictType):
        return named("reflex_base.vars.object.ObjectVar", [proper])
    if isinstance(proper, TupleType):
        return named("reflex_base.vars.sequence.ArrayVar", [proper])
    if not isinstance(proper, Instance):
        return named(VAR_CLASS, [declared])
    if proper.type.has_base(VAR_CLASS):
        return None  # already a Var (a computed var, a Field the state declares itself)
    fullname = proper.type.fullname
    if fullname == "builtins.bool":
        return named("reflex_base.vars.number.BooleanVar", [])
    if fullname == "builtins.int":
        return named("reflex_base.vars.number.NumberVar", [builtin("builtins.int", [])])
    if fullname == "builtins.float":
        return named("reflex_base.vars.number.NumberVar", [builtin("builtins.float", [])])
    if fullname == "builtins.str":
        return named("reflex_base.vars.sequence.StringVar", [builtin("builtins.str", [])])
    if fullname in ("builtins.list", "builtins.set"):
        sequence = named("typing.Sequence", list(proper.args))
        return named("reflex_base.vars.sequence.ArrayVar", [sequence])
    if proper.type.has_base("typing.Sequence"):
        return named("reflex_base.vars.sequence.ArrayVar", [proper])
    return named("reflex_base.vars.object.ObjectVar", [proper])  # a dict, a dataclass, a model


def typed_dict_item(ctx: MethodContext) -> Type:
    """``ObjectVar[SomeTypedDict]["key"]``: the Var of that key's type (Reflex's overloads see a TypedDict as a
    mapping to ``object``)."""
    owner = get_proper_type(ctx.type)
    if isinstance(owner, Instance) and owner.args and ctx.args and len(ctx.args[0]) == 1:
        typed_dict = get_proper_type(owner.args[0])
        key = ctx.args[0][0]
        if isinstance(typed_dict, TypedDictType) and isinstance(key, StrExpr) and key.value in typed_dict.items:
            return _var_type(ctx.api, typed_dict.items[key.value]) or ctx.default_return_type
    return ctx.default_return_type


class ReflexPlugin(Plugin):
    """Reflex's event decorator and state fields, typed as Reflex declares them."""

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        if fullname == EVENT_DECORATOR:
            return event_decorator
        return None

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        if fullname == OBJECT_VAR_ITEM:
            return typed_dict_item
        return None

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner_name, _, attribute = fullname.rpartition(".")
        if attribute.startswith("_"):
            return None  # backend-only fields stay on the server: no Var
        owner = self.lookup_fully_qualified(owner_name)
        if owner is None or not isinstance(owner.node, TypeInfo) or not owner.node.has_base(BASE_STATE):
            return None
        if owner.node.fullname.startswith(("reflex.", "reflex_base.")):
            return None  # Reflex's own class attributes (its machinery, not fields)
        declared = owner.node.names.get(attribute)
        if declared is None or not isinstance(declared.node, Var) or declared.node.is_classvar:
            return None  # a handler, a computed var, a ClassVar: Reflex makes no Field of it

        def state_field(ctx: AttributeContext) -> Type:
            if ctx.is_lvalue:
                return ctx.default_attr_type
            return _var_type(ctx.api, ctx.default_attr_type) or ctx.default_attr_type

        return state_field


_PLUGIN: ReflexPlugin


class _ReflexPlugin(ReflexPlugin):
    def __init__(self, options: Options) -> None:
        super().__init__(options)
        global _PLUGIN
        _PLUGIN = self


def plugin(version: str) -> type[Plugin]:
    """The entry point mypy calls."""
    return _ReflexPlugin
