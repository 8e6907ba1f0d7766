"""Test-only helpers, kept out of the installed package: ``support.web`` (stand-in methods, a server
in a thread or as a child process, Chromium settings), ``support.locustfile`` and ``support.loadrun``
(locust load runs), ``support.slowclients`` (slow sockets) and ``support.apifuzz`` (schemathesis).

Importable as ``support`` from the tests (pytest puts ``tests/`` on the path, see ``pythonpath`` in
pyproject.toml) and from benchmarks/ and docs/ scripts, which add ``tests/`` to ``sys.path`` themselves.
"""
