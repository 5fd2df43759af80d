"""Hypothesis strategies for the token oracle (TP), in one place.

Values are drawn from a small pool on purpose: repeats make "old_value equals
a value set earlier" and "default equals a set value" likely, which is where
implementations confuse "unset" with "set to the default".  Everything drawn
has an exact ``repr`` so the reproducer TP prints can be pasted as is.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Final, cast

from hypothesis import strategies as st

#: How many vars and Contexts one sequence may create: few, so that steps
#: often meet the same var or Context again (reuse is where bugs are).
MAX_VARS: Final = 3
MAX_CONTEXTS: Final = 4

#: The "no argument" marker for ``var.get()`` (never a value of a var).
NO_DEFAULT: Final = "<no default>"

values: st.SearchStrategy[object] = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["a", "b", ""]),
    st.tuples(st.integers(min_value=0, max_value=1)),
)

#: An argument for ``var.get(...)``: nothing, or a default.
get_defaults: st.SearchStrategy[object] = st.one_of(st.just(NO_DEFAULT), values)

#: Plain non-token arguments to ``var.reset``; vars and Contexts as non-tokens
#: are drawn from the machine's bundles instead.
non_tokens: st.SearchStrategy[object] = st.sampled_from([None, 0, "token", (), 1.5])

#: The vanilla ways of duplicating an object that T9 says must refuse a token.
copy_ways: st.SearchStrategy[str] = st.sampled_from(
    ["pickle.dumps", "cloudpickle.dumps", "copy.copy", "copy.deepcopy"]
)


def copier(way: str) -> Callable[[object], object]:
    """The function a drawn ``copy_ways`` name stands for (cloudpickle imported on use)."""
    if way == "cloudpickle.dumps":
        import cloudpickle  # type: ignore[import-untyped]

        return cast(Callable[[object], object], cloudpickle.dumps)
    copiers: dict[str, Callable[[object], object]] = {
        "pickle.dumps": pickle.dumps,
        "copy.copy": copy.copy,
        "copy.deepcopy": copy.deepcopy,
    }
    return copiers[way]
