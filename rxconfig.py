"""Reflex configuration; every value comes from app.settings (the environment)."""

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from app.settings import get_settings

settings = get_settings()

config = rx.Config(
    app_name="app",
    # The browser talks to the backend on the public URL (one port in production).
    api_url=settings.public_url,
    deploy_url=settings.public_url,
    # Reflex applies this list, with credentials, to everything including our API: backoffice origins only.
    cors_allowed_origins=settings.backoffice_origins,
    # With Redis, each tab's state lives there and the backend may run several workers (GRANIAN_WORKERS); without
    # it, Reflex keeps state in the one worker's memory.
    redis_url=settings.redis_url or None,
    telemetry_enabled=False,
    # The build writes brotli and gzip copies of the frontend's files; the server sends the best one the browser
    # accepts (browsers offer brotli in secure contexts: https, localhost). docs/performance.md has the sizes.
    frontend_compression_formats=["brotli", "gzip"],
    # Reflex otherwise imports all of @radix-ui/themes into every page for rx.dynamic components, which the app does
    # not use: only the components a page draws are loaded (bench/bundle.py, docs/performance.md).
    frontend_lazy_bundled_libraries=True,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="jade", radius="medium"))],
    disable_plugins=[SitemapPlugin],
)
