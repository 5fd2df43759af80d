"""Hypothesis profiles for the token oracle (TP), and the rule for loading them.

Hypothesis is imported inside the functions, never at module import: the
plugin imports this module only once a contextvars implementation is selected,
and the plugin's own import cost is benchmarked.

Rule: a downstream project's own profile wins.  Ours is loaded only while the
current profile is one of Hypothesis's own (``default``, or the ``ci`` profile
Hypothesis loads by itself on CI); then ``ctxprop-ci`` when the environment
says CI, else ``ctxprop-dev``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CI_PROFILE = "ctxprop-ci"
DEV_PROFILE = "ctxprop-dev"

#: Examples per TP run: each is a sequence of up to STATEFUL_STEPS steps run on
#: both sides.  Token bugs need a handful of steps; shorter sequences also
#: shrink faster to the reproducer.
CI_MAX_EXAMPLES = 200
DEV_MAX_EXAMPLES = 100
STATEFUL_STEPS = 30

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def register_profiles() -> None:
    """Register ``ctxprop-ci`` and ``ctxprop-dev`` (idempotent)."""
    from hypothesis import HealthCheck, settings

    # built on Hypothesis's defaults, not on whatever profile is loaded now
    # (on CI that is Hypothesis's own "ci", which would leak derandomize=True)
    base = settings.get_profile("default")
    settings.register_profile(
        CI_PROFILE,
        parent=base,
        derandomize=True,  # a CI failure reproduces from the log alone
        deadline=None,  # runner speed varies; TP measures parity, not time
        max_examples=CI_MAX_EXAMPLES,
        stateful_step_count=STATEFUL_STEPS,
        database=None,  # nothing to persist on throwaway runners
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile(
        DEV_PROFILE,
        parent=base,
        derandomize=False,
        deadline=None,
        max_examples=DEV_MAX_EXAMPLES,
        stateful_step_count=STATEFUL_STEPS,
        suppress_health_check=[HealthCheck.too_slow],
    )


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CI`` is set to something other than a false-ish word."""
    value = (os.environ if environ is None else environ).get("CI")
    return value is not None and value.strip().lower() not in _FALSE_WORDS


def current_profile_name() -> str:
    """The active Hypothesis profile."""
    from hypothesis import settings

    return settings.get_current_profile_name()


def _is_hypothesis_ci_profile(name: str) -> bool:
    """Is ``name`` the "ci" profile Hypothesis registers (and loads on CI) itself?

    A project may register its own "ci", which must win: compare the objects.
    """
    from hypothesis import _settings as hypothesis_settings
    from hypothesis import settings

    return name == "ci" and settings.get_profile("ci") is hypothesis_settings.CI


def choose_profile(environ: Mapping[str, str] | None = None) -> str | None:
    """The ctxprop profile to load, or None when the project's own profile must stay."""
    current = current_profile_name()
    if current == "default":
        return CI_PROFILE if in_ci(environ) else DEV_PROFILE
    if _is_hypothesis_ci_profile(current):
        return CI_PROFILE
    return None


def load_profile(environ: Mapping[str, str] | None = None) -> str:
    """Register our profiles and load the chosen one; returns the active profile's name."""
    from hypothesis import settings

    register_profiles()
    chosen = choose_profile(environ)
    if chosen is not None:
        settings.load_profile(chosen)
    return current_profile_name()
