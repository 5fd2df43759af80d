"""docs/properties.md is generated from the property table and must not be stale."""

from __future__ import annotations

from pathlib import Path

from ctxprop_conformance.properties import PROPERTIES
from ctxprop_conformance.properties_doc import APPLIES, render

DOC = Path(__file__).parents[2] / "docs" / "properties.md"


def test_the_checked_in_page_is_what_the_table_renders() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/properties.md is stale: run "
        "`python -m ctxprop_conformance.properties_doc > docs/properties.md`"
    )


def test_every_runtime_property_says_when_it_applies() -> None:
    runtime_props = {p.id for p in PROPERTIES.values() if p.section in "FIBS"}
    runtime_props |= {f"T{n}" for n in range(11, 17)}
    assert runtime_props <= set(APPLIES)


def test_every_property_is_on_the_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [pid for pid in PROPERTIES if f"| {pid} " not in text]
    assert not missing
