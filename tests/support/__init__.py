"""Test-only helpers, kept out of the installed package: ``support.web`` (stand-in methods, a server
in a thread or as a child process, Chromium settings) and ``support.loadtest`` (a bounded load test).

Importable as ``support`` from the tests (pytest puts ``tests/`` on the path, see ``pythonpath`` in
pyproject.toml) and from benchmarks/ and docs/ scripts, which add ``tests/`` to ``sys.path`` themselves.
"""
