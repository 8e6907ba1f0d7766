"""The command line: ``main`` parses and dispatches; one module per command (``add_parser`` + ``run``).

Only this package prints, draws progress bars and turns errors into exit codes; the engines below
report through callbacks and raise ``BrushworkError``.
"""

from brushwork.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
