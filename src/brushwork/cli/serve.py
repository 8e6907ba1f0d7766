"""``brushwork serve``: run the web app with uvicorn. Flags come from WebServiceConfig."""

from __future__ import annotations

import argparse
import sys

from brushwork.cli.flags import add_config_arguments, config_from_args
from brushwork.config import WebServiceConfig


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="web app and HTTP API for stylising photos (http://127.0.0.1:8000)",
        description="Serve a page and a JSON API that paint photos in the style of a painting. "
        "Binds to localhost unless --host says otherwise; API docs at /docs.",
    )
    add_config_arguments(p, WebServiceConfig)
    p.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default: info)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the web app pulls in FastAPI and torch (~2 s), which
    # `brushwork --help` and the other commands must not pay (see brushwork.cli.main).
    from brushwork.web.app import create_app
    from brushwork.web.security import exposure_warning
    from brushwork.web.server import run_server

    config: WebServiceConfig = config_from_args(WebServiceConfig, args)
    warning = exposure_warning(config)
    if warning:
        print(f"brushwork: warning: {warning}", file=sys.stderr, flush=True)
    app = create_app(config)
    print(
        f"brushwork: serving on http://{config.host}:{config.port}/  (data: {config.data_path})", flush=True
    )
    run_server(app, config, log_level=args.log_level)
    return 0
