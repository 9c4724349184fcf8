"""The public HTTP API: the FastAPI app (factory.py), its middleware (middleware.py), one router per area
(endpoints/), request parsing and errors (body.py, params.py, errors.py, cors.py), key dependencies (deps.py) and
the documented schemas (schemas.py)."""

from app.api.factory import build_api as build_api  # the app's one entry point, as app/app.py and the docs use it
