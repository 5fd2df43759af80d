"""Harness fixtures."""
