"""The app's routes, one module per concern: ``pages`` (the page), ``catalogue`` (health, methods,
styles, samples, thumbnails), ``jobs`` (submit, follow, fetch, cancel), ``history`` (the page's
history strip: list, delete), ``regions`` (the person mask of a photo, for the region editor) and
``live``. Each is an ``APIRouter``
that ``brushwork.web.app.create_app`` includes; they reach the app's state through ``web.deps``."""
