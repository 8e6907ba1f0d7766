"""The app's routes, one module per concern: ``pages`` (the page), ``catalogue`` (health, methods,
styles, samples, thumbnails) and ``jobs`` (submit, follow, fetch, cancel). Each is an ``APIRouter``
that ``brushwork.web.app.create_app`` includes; they reach the app's state through ``web.deps``."""
