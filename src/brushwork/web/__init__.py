"""``brushwork serve``: a page and an HTTP API that paint photos in the style of a painting.

``create_app(config)`` (brushwork.web.app) builds the FastAPI app; WebServiceConfig
(brushwork.web.config) holds every server setting; jobs, methods, uploads and the gallery have
one module each. Importing this package starts nothing.
"""
