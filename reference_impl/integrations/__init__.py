"""Small integrations that make real runtimes carry contextvars correctly, built on the snapshot.

One module per library (``ctxprop_reference.integrations.celery`` and so on),
each importing its library only when used; docs/integrations/ has a
before/after example for each, run by the tests.
"""
