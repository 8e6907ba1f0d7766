"""``brushwork serve``: a page and an HTTP API that paint photos in the style of a painting.

``create_app(config)`` (brushwork.web.app) builds the FastAPI app from a ``WebServiceConfig``
(brushwork.config); the endpoints live in ``routes/`` by concern, and jobs, methods, uploads and
the gallery have one module each. The command line is ``brushwork.cli.serve``. Importing this
package starts nothing.
"""
