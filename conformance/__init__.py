"""The ctxprop conformance suite."""
