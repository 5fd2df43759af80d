"""Reference ``ContextVar`` / ``Token`` / ``Context`` / ``copy_context``.

The stdlib API, built on the stdlib so that it interoperates with real asyncio
tasks, threads and executors: every reference :class:`ContextVar` wraps a stdlib
``ContextVar``, every reference :class:`Token` wraps the stdlib token minted by
that var, and :data:`Context` / :func:`copy_context` *are* the stdlib ones.  The
stdlib therefore stays the single source of truth for values and for which
Context owns a token; this module adds what crossing a process boundary needs:

* a stable identity ``(namespace, name)`` for vars declared with ``namespace=``,
  so that a worker process can :func:`lookup` the same variable;
* a token that vanilla ``pickle``, ``cloudpickle``, ``copy`` and ``deepcopy``
  refuse (SPEC T9), because a copy would be a second, independent "single use";
* the wire hook: :meth:`Token.__ctxprop_wire__` turns a token into plain data and
  :meth:`Token.from_wire` turns that data back into a token (see docs/tokens.md).

Nothing here unpickles anything.
"""

from __future__ import annotations

import contextvars as _stdlib
import re
import threading
import uuid
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, TypedDict, TypeVar, cast, overload

__all__ = [
    "MISSING",
    "WIRE_FORMAT",
    "Context",
    "ContextVar",
    "DuplicateContextVarError",
    "Token",
    "TokenWire",
    "copy_context",
    "lookup",
]

_T = TypeVar("_T")
_D = TypeVar("_D")

#: The "no previous value" marker of :attr:`Token.old_value`: the stdlib's own,
#: so code comparing against ``contextvars.Token.MISSING`` keeps working.
MISSING: Final[object] = _stdlib.Token.MISSING

#: The stdlib Context: asyncio, threads and executors accept it as is.
Context = _stdlib.Context
copy_context = _stdlib.copy_context

#: Version tag of the data produced by :meth:`Token.__ctxprop_wire__`.
WIRE_FORMAT: Final = "ctxprop.token/1"

_NO_DEFAULT: Final[Any] = object()
_WIRE_HOW_TO: Final = (
    "a Token is single-use and bound to the Context that created it, so a copy would be "
    "a second, independent token; to carry it to another process use the ctxprop wire "
    "hook: data = token.__ctxprop_wire__() on the sending side and "
    "Token.from_wire(data) on the receiving side (docs/tokens.md)"
)
_VAR_HOW_TO: Final = (
    "a ContextVar is identified by (namespace, name): send var.namespace and var.name "
    "and resolve them with ctxprop_reference.vars.lookup() on the receiving side"
)
_TOKEN_ID: Final = re.compile(r"[0-9a-f]{32}")


class DuplicateContextVarError(ValueError):
    """A second ContextVar was declared with an identity that is already taken."""


_declared: dict[tuple[str, str], ContextVar[Any]] = {}
_declared_lock = threading.Lock()


def _declare(var: ContextVar[Any], namespace: str) -> None:
    """Register ``var`` under its identity; one identity names one variable."""
    if not isinstance(namespace, str) or not namespace:
        raise TypeError(f"ContextVar namespace must be a non-empty str, got {namespace!r}")
    identity = (namespace, var.name)
    with _declared_lock:
        existing = _declared.get(identity)
        if existing is not None:
            raise DuplicateContextVarError(
                f"ContextVar {var.name!r} is already declared in namespace {namespace!r} "
                f"({existing!r}); (namespace, name) identifies one variable across "
                "processes, so declare it once at module level and import it"
            )
        _declared[identity] = var


def lookup(namespace: str, name: str) -> ContextVar[Any]:
    """The ContextVar declared as ``(namespace, name)`` in this process.

    Raises LookupError when nothing is declared under that identity: the module
    that declares the variable must be imported first (nothing is imported here,
    on purpose: wire data must not choose which code runs).
    """
    try:
        return _declared[(namespace, name)]
    except KeyError:
        raise LookupError(
            f"no ContextVar is declared as ({namespace!r}, {name!r}) in this process; "
            "import the module that declares it before resolving tokens or values"
        ) from None


class ContextVar(Generic[_T]):
    """A context variable with the stdlib API and an optional stable identity."""

    __slots__ = ("_default", "_name", "_namespace", "_stdlib_var")

    def __init__(
        self, name: str, *, default: _T = _NO_DEFAULT, namespace: str | None = None
    ) -> None:
        if not isinstance(name, str):
            raise TypeError("context variable name must be a str")
        self._name = name
        self._default = default
        self._namespace = namespace
        self._stdlib_var: _stdlib.ContextVar[_T] = (
            _stdlib.ContextVar(name)
            if default is _NO_DEFAULT
            else _stdlib.ContextVar(name, default=default)
        )
        if namespace is not None:
            _declare(self, namespace)

    @property
    def name(self) -> str:
        return self._name

    @property
    def namespace(self) -> str | None:
        """The namespace given at declaration; None for a process-local var."""
        return self._namespace

    @overload
    def get(self, /) -> _T: ...
    @overload
    def get(self, default: _D, /) -> _T | _D: ...
    def get(self, default: Any = _NO_DEFAULT, /) -> Any:
        """Like ``contextvars.ContextVar.get``; LookupError carries this var."""
        if default is _NO_DEFAULT:
            try:
                return self._stdlib_var.get()
            except LookupError:
                raise LookupError(self) from None
        return self._stdlib_var.get(default)

    def set(self, value: _T) -> Token[_T]:
        """Set the value in the current Context; the token can undo it once."""
        token: Token[_T] = _new_object(Token)
        token._var = self
        token._stdlib_token = self._stdlib_var.set(value)
        token._used = False
        return token

    def reset(self, token: Token[_T]) -> None:
        """Undo ``token``'s set, with the stdlib's checks, order and messages.

        Order: type, used, var, context.  A rejected reset changes nothing; the
        context check is the stdlib's own (the wrapped stdlib token knows its
        Context), so it agrees with the stdlib in tasks and threads too.
        """
        if type(token) is not Token:
            raise TypeError(f"expected an instance of Token, got {token!r}")
        if token._used:
            raise RuntimeError(f"{token!r} has already been used once")
        if token._var is not self:
            raise ValueError(f"{token!r} was created by a different ContextVar")
        try:
            self._stdlib_var.reset(token._stdlib_token)
        except ValueError:
            raise ValueError(f"{token!r} was created in a different Context") from None
        token._used = True

    def __repr__(self) -> str:
        namespace = "" if self._namespace is None else f" namespace={self._namespace!r}"
        default = "" if self._default is _NO_DEFAULT else f" default={self._default!r}"
        return f"<ContextVar name={self._name!r}{namespace}{default} at 0x{id(self):x}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot pickle 'ContextVar' object: {_VAR_HOW_TO}")

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle 'ContextVar' object: {_VAR_HOW_TO}")

    def __copy__(self) -> ContextVar[_T]:
        raise TypeError(f"cannot copy 'ContextVar' object: {_VAR_HOW_TO}")

    def __deepcopy__(self, memo: Any) -> ContextVar[_T]:
        raise TypeError(f"cannot deepcopy 'ContextVar' object: {_VAR_HOW_TO}")


class TokenWire(TypedDict):
    """Plain data describing a token on the wire (no code, no pickles).

    ``old_value`` is the var's previous value as is (None when
    ``has_old_value`` is false): the dispatch serializer encodes it with the same
    codec it uses for var values.
    """

    format: str
    id: str
    namespace: str
    name: str
    used: bool
    has_old_value: bool
    old_value: object


_live_tokens: weakref.WeakValueDictionary[str, Token[Any]] = weakref.WeakValueDictionary()
_live_tokens_lock = threading.Lock()


class Token(Generic[_T]):
    """What ``ContextVar.set`` returns: undoes that set once, in its Context.

    Only ContextVars create tokens.  Tokens refuse pickle, cloudpickle, copy and
    deepcopy (SPEC T9); :meth:`__ctxprop_wire__` / :meth:`from_wire` are the
    supported way across a process boundary.
    """

    __slots__ = ("__weakref__", "_id", "_stdlib_token", "_used", "_var")

    MISSING: ClassVar[object] = MISSING

    _var: ContextVar[_T]
    _stdlib_token: _stdlib.Token[_T]
    _used: bool
    _id: str

    def __new__(cls, *args: object, **kwargs: object) -> Token[_T]:
        raise RuntimeError("Tokens can only be created by ContextVars")

    @property
    def var(self) -> ContextVar[_T]:
        return self._var

    @property
    def old_value(self) -> Any:
        """The value before the set, or :attr:`Token.MISSING` if there was none."""
        return self._stdlib_token.old_value

    def __enter__(self) -> Token[_T]:
        """Python 3.14 semantics on every version: ``with var.set(x): ...``."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Reset the var; never suppresses the block's exception."""
        self._var.reset(self)

    def __repr__(self) -> str:
        used = " used" if self._used else ""
        return f"<Token{used} var={self._var!r} at 0x{id(self):x}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot pickle 'Token' object: {_WIRE_HOW_TO}")

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle 'Token' object: {_WIRE_HOW_TO}")

    def __copy__(self) -> Token[_T]:
        raise TypeError(f"cannot copy 'Token' object: {_WIRE_HOW_TO}")

    def __deepcopy__(self, memo: Any) -> Token[_T]:
        raise TypeError(f"cannot deepcopy 'Token' object: {_WIRE_HOW_TO}")

    def __ctxprop_wire__(self) -> TokenWire:
        """This token as plain data, for a dispatch serializer to carry.

        The token gets a random id on its first trip and stays findable by it in
        this process while it is alive, so data coming back (say, after a remote
        reset) lands on this very object.  Only tokens of vars declared with
        ``namespace=`` can travel: the receiver needs the var's identity.
        """
        var = self._var
        if var.namespace is None:
            raise TypeError(
                f"cannot carry a token of {var!r} across processes: the var has no "
                f"stable identity; declare it as ContextVar({var.name!r}, namespace=...)"
            )
        token_id = getattr(self, "_id", None)
        if token_id is None:
            token_id = uuid.uuid4().hex
            with _live_tokens_lock:
                self._id = token_id
                _live_tokens[token_id] = self
        old_value = self.old_value
        has_old_value = old_value is not MISSING
        return {
            "format": WIRE_FORMAT,
            "id": token_id,
            "namespace": var.namespace,
            "name": var.name,
            "used": self._used,
            "has_old_value": has_old_value,
            "old_value": old_value if has_old_value else None,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> Token[Any]:
        """The token that ``data`` (from :meth:`__ctxprop_wire__`) describes.

        In the process that minted it, this is the original object; ``used``
        only ever turns on, so a reset done elsewhere sticks.  Elsewhere it is a
        *detached* token for the declared var: it reports ``var``/``old_value``
        and keeps single use, and resetting it raises the stdlib's
        "created in a different Context" ValueError, as it would in any Context
        other than the minting one.  Binding a detached token to a worker's
        Context (the awaited-call model) is the dispatch serializer's job.
        """
        token_id, namespace, name, used, has_old_value = _validated_wire(data)
        var = lookup(namespace, name)
        with _live_tokens_lock:
            token = _live_tokens.get(token_id)
            if token is None:
                token = cast(Token[Any], _new_object(Token))
                token._var = var
                token._stdlib_token = _orphan_stdlib_token(
                    var._stdlib_var, data["old_value"] if has_old_value else MISSING
                )
                token._used = used
                token._id = token_id
                _live_tokens[token_id] = token
                return token
        if token._var is not var:
            raise ValueError(
                f"token {token_id} on the wire names ({namespace!r}, {name!r}) but the "
                f"token with that id here belongs to {token._var!r}"
            )
        if used:
            token._used = True
        return token


_new_object = cast(Any, object.__new__)


def _validated_wire(data: Mapping[str, object]) -> tuple[str, str, str, bool, bool]:
    """Check wire data field by field; a clear ValueError names the bad field."""
    if not isinstance(data, Mapping):
        raise TypeError(f"token wire data must be a mapping, got {type(data).__name__}")
    if data.get("format") != WIRE_FORMAT:
        raise ValueError(f"token wire format {data.get('format')!r} is not {WIRE_FORMAT!r}")
    token_id, namespace, name = data.get("id"), data.get("namespace"), data.get("name")
    used, has_old_value = data.get("used"), data.get("has_old_value")
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise ValueError(f"token wire field 'id' must be 32 lowercase hex digits, got {token_id!r}")
    for field, value in (("namespace", namespace), ("name", name)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"token wire field {field!r} must be a non-empty str, got {value!r}")
    for field, value in (("used", used), ("has_old_value", has_old_value)):
        if not isinstance(value, bool):
            raise ValueError(f"token wire field {field!r} must be a bool, got {value!r}")
    if "old_value" not in data:
        raise ValueError("token wire field 'old_value' is missing")
    return (
        token_id,
        cast(str, namespace),
        cast(str, name),
        cast(bool, used),
        cast(bool, has_old_value),
    )


def _orphan_stdlib_token(var: _stdlib.ContextVar[Any], old_value: object) -> _stdlib.Token[Any]:
    """A stdlib token of ``var`` with ``old_value``, minted in a Context nobody can enter.

    Resetting it anywhere raises the stdlib's "different Context" ValueError,
    which is the truth for a token whose minting Context is in another process.
    """
    if old_value is MISSING:
        return _stdlib.Context().run(var.set, None)

    def mint() -> _stdlib.Token[Any]:
        var.set(old_value)
        return var.set(old_value)

    return _stdlib.Context().run(mint)
