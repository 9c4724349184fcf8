"""Route constants and URL builders: no page or API path is written anywhere else."""

from __future__ import annotations

from app.settings import get_settings

# Backoffice pages
HOME = "/"
SIGNUP = "/signup"
LOGIN = "/login"
INSTALL = "/install"
SETTINGS_KEYS = "/settings/keys"
SETTINGS_TEAM = "/settings/team"
INVITE = "/invite/[token]"

PUBLIC_PAGES = {SIGNUP, LOGIN, INVITE}

# API
API_V1 = "/api/v1"
API_OPENAPI = "/api/openapi.json"
API_DOCS = "/api/docs"
API_DOCS_ASSETS = "/api/docs/assets"


def invite_url(token: str) -> str:
    return f"{get_settings().public_url}/invite/{token}"


def login_url(next_path: str | None = None) -> str:
    return f"{LOGIN}?next={next_path}" if next_path else LOGIN
