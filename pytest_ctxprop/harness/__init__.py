"""Harness fixtures (docs/fixtures.md): servers that are really up, isolated Redis,
fakeredis blocking fixes, Windows-safe loops and a leak guard.  Nothing here is
imported by ``import pytest_ctxprop``; the public names load lazily from there."""
