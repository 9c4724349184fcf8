"""The public HTTP API: the FastAPI app (factory.py), its middleware (middleware.py), one router per area
(endpoints/), request parsing and errors (body.py, params.py, errors.py, cors.py), key dependencies (deps.py) and
the documented schemas (schemas.py)."""
