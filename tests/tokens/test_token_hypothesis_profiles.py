"""The TP profiles: what they set, when they load, and that a project's own profile wins."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from pytest_ctxprop import _hypothesis_profiles as profiles


@pytest.fixture(autouse=True)
def restore_hypothesis_profile() -> Iterator[None]:
    """Profiles are process-global: put back the active one and Hypothesis's "ci"."""
    active = profiles.current_profile_name()
    hypothesis_ci = settings.get_profile("ci")
    yield
    settings.register_profile("ci", hypothesis_ci)
    settings.load_profile(active)


def test_ci_profile_is_reproducible_and_bounded() -> None:
    profiles.register_profiles()
    ci = settings.get_profile(profiles.CI_PROFILE)
    assert ci.derandomize is True
    assert ci.deadline is None
    assert ci.database is None
    assert ci.max_examples == profiles.CI_MAX_EXAMPLES <= 500
    assert ci.stateful_step_count == profiles.STATEFUL_STEPS
    assert HealthCheck.too_slow in ci.suppress_health_check


def test_dev_profile_explores() -> None:
    profiles.register_profiles()
    dev = settings.get_profile(profiles.DEV_PROFILE)
    assert dev.derandomize is False
    assert dev.deadline is None
    assert dev.max_examples == profiles.DEV_MAX_EXAMPLES


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, profiles.DEV_PROFILE),
        ({"CI": "true"}, profiles.CI_PROFILE),
        ({"CI": "1"}, profiles.CI_PROFILE),
        ({"CI": "false"}, profiles.DEV_PROFILE),
        ({"CI": ""}, profiles.DEV_PROFILE),
    ],
)
def test_default_profile_gives_way_to_ours(environ: dict[str, str], expected: str) -> None:
    settings.load_profile("default")
    assert profiles.load_profile(environ) == expected
    assert profiles.current_profile_name() == expected


def test_a_projects_own_profile_wins() -> None:
    settings.register_profile("project-own", max_examples=7)
    settings.load_profile("project-own")
    assert profiles.choose_profile({"CI": "true"}) is None
    assert profiles.load_profile({"CI": "true"}) == "project-own"
    assert settings().max_examples == 7


def test_hypothesis_own_ci_profile_counts_as_ci() -> None:
    settings.load_profile("ci")
    assert profiles.choose_profile({}) == profiles.CI_PROFILE


def test_a_project_registered_ci_profile_wins() -> None:
    settings.register_profile("ci", max_examples=3)
    settings.load_profile("ci")
    assert profiles.choose_profile({"CI": "true"}) is None


def test_importing_the_module_does_not_import_hypothesis() -> None:
    code = "import sys, pytest_ctxprop._hypothesis_profiles\nprint('hypothesis' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
