"""Every setting, read from the environment once, typed and validated at start.

Each field's ``description`` is its documentation: docs/configuration.md is generated from this class
(scripts/docs_reference.py), so a new setting is documented by describing its field.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import secrets
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")

# Values that must never reach production: the usual placeholders and the empty string.
_DEFAULT_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class EmailBackend(StrEnum):
    FILE = "file"
    SMTP = "smtp"
    SENDGRID = "sendgrid"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and what to set."""


class Settings(BaseSettings):
    """PaidSignal's settings. Environment variables are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # The docs' configuration reference is generated from the fields below: each `# Section` comment right above a
    # field starts a section, each description is the field's documentation (tests/test_docs.py checks there is one).

    # Server
    paidsignal_env: Environment = Field(
        Environment.DEVELOPMENT,
        description="`development` or `production`. Production refuses a missing or default `SECRET_KEY`, the `fast` "
        "password profile, `EMAIL_BACKEND=smtp` without `SMTP_HOST` and `sendgrid` without `SENDGRID_API_KEY`. "
        "Independent of Reflex's `--env`.",
    )
    public_url: str = Field(
        "http://localhost:3000",
        description="Where users reach the app. Drives Reflex's `api_url` and the backoffice's CORS origins (in "
        "development both the `localhost` and `127.0.0.1` spellings), invitation links, the Stripe webhook URL "
        "shown to the owner and the install snippet. `https://` also turns on `Strict-Transport-Security`.",
    )
    port: int = Field(3000, description="Port of `make run`: pages, API and websocket share it.")
    data_dir: Path = Field(
        Path("data"),
        description="Folder for the SQLite file, the generated secret (`secret_key`) and the e-mail outbox of the "
        "`file` backend.",
    )

    # Database
    database_url: str = Field(
        "",
        description="Empty: `sqlite:///{DATA_DIR}/paidsignal.db`. Otherwise `sqlite:///…` (embedded), "
        "`sqlite+libsql://host?secure=true` or `sqlite+libsql:///file.db` (Turso/libSQL), or `postgresql://…` "
        "(psycopg 3).",
    )
    database_auth_token: str = Field(
        "", description="Turso auth token, passed as `auth_token` (never put it in the URL)."
    )
    database_sync_url: str = Field(
        "", description="Turso embedded replica: the `libsql://…` primary that a local file syncs with."
    )
    database_pool_size: int = Field(
        0,
        ge=0,
        le=10_000,
        description="Most database connections one process opens. `0`: one for every thread that may use the "
        "database at once (86 with the defaults: API threads, webhook threads, jobs, conversion sender, ingest "
        "writer; 10 kept open, the rest opened on demand), so no request waits for a connection. Lower it to fit "
        "PostgreSQL's `max_connections` across processes: requests then wait for a connection but never deadlock "
        "(the docstring of `app/db.py` says why).",
    )

    # Security and sign-in
    secret_key: str = Field(
        "",
        description="Master secret; empty in development: generated into `DATA_DIR/secret_key` on first use. "
        "Separate subkeys are derived from it with HKDF for the API-key HMAC pepper, provider-credential "
        "encryption and signed invitation links. Required (at least 32 characters) in production.",
    )
    secret_key_previous: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated earlier `SECRET_KEY`s, still accepted for verification and decryption while "
        "secrets rotate.",
    )
    extra_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated extra backoffice origins allowed with credentials (besides `PUBLIC_URL`'s).",
    )
    session_ttl_hours: int = Field(24 * 14, ge=1, description="Lifetime of a login session (14 days).")
    invite_ttl_hours: int = Field(24 * 7, ge=1, description="Lifetime of an invitation link (7 days).")
    password_hash_profile: str = Field(
        "default", description="Argon2 cost profile: `default`, or `fast` for tests only (refused in production)."
    )
    login_rate_limit_per_email_and_ip: str = Field(
        "10/15minutes",
        description="Login attempts per e-mail from one client IP (`limits` notation): the tight limit on guessing "
        "one password from one place. Limits apply narrowest first.",
    )
    login_rate_limit_per_email: str = Field(
        "100/15minutes",
        description="Login attempts per e-mail from all IPs together: loose, so that someone elsewhere cannot lock "
        "the owner out.",
    )
    login_rate_limit_per_ip: str = Field(
        "50/15minutes", description="Login attempts per client IP, whatever the e-mail: one place trying many e-mails."
    )

    # Email
    email_backend: EmailBackend = Field(
        EmailBackend.FILE,
        description="`file` writes each message to `DATA_DIR/outbox/*.eml`; `smtp` sends through the SMTP server "
        "below; `sendgrid` through SendGrid's HTTP API.",
    )
    email_from: str = Field(
        "PaidSignal <no-reply@localhost>",
        description="Sender of every e-mail, `Name <address>` (with SendGrid: a verified sender or an address on "
        "an authenticated domain).",
    )
    smtp_host: str = Field("localhost", description="SMTP server (SendGrid's relay: `smtp.sendgrid.net`).")
    smtp_port: int = Field(587, description="SMTP port: 587 for STARTTLS, 465 with `SMTP_SSL`.")
    smtp_username: str = Field("", description="SMTP login (SendGrid: `apikey`); no login when empty.")
    smtp_password: str = Field("", description="SMTP password (SendGrid: the API key).")
    smtp_starttls: bool = Field(
        True,
        description="Upgrade the connection with STARTTLS before login; a server that does not offer it is "
        "refused, so nothing travels in clear. `false` only for a trusted local relay.",
    )
    smtp_ssl: bool = Field(
        False,
        description="Implicit TLS from the first byte (`smtplib.SMTP_SSL`, usually with `SMTP_PORT=465`); "
        "`SMTP_STARTTLS` then does not apply.",
    )
    smtp_ca_file: str = Field(
        "",
        description="PEM file of the CA(s) trusted for the server's certificate; empty: the system's trust store. "
        "The certificate and host name are always verified.",
    )
    smtp_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of each SMTP network step (connecting, each reply)."
    )
    sendgrid_api_key: str = Field(
        "", description="SendGrid API key with the *Mail Send* permission (for `EMAIL_BACKEND=sendgrid`)."
    )
    sendgrid_api_host: str = Field(
        "https://api.sendgrid.com",
        description="SendGrid API base (`https://api.eu.sendgrid.com` for EU regional subusers; tests point it at "
        "a local recording server).",
    )
    sendgrid_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one SendGrid API call.")

    # Ingest
    ingest_rate_limit: str = Field(
        "500/second",
        description="Requests per API key on `POST /api/v1/events` (`limits` notation; several separated by `;`), "
        "per process, or across every process with `REDIS_URL`. Raise it for benchmarks.",
    )
    key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a process trusts an API key (and the campaigns' matching rules) it already read, so "
        "the ingest path skips the database. A revocation, an origin change or a published campaign applies at "
        "once in the process that made it and within this time in the others; `0` disables the cache.",
    )
    ingest_max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Largest accepted events body in bytes (413 above)."
    )
    ingest_derive_delay_seconds: float = Field(
        0.5,
        ge=0,
        le=60,
        description="How long the ingest writer lets committed events wait before deriving visitors, sessions and "
        "touches from them in one pass (events answered meanwhile share it); the dashboard shows the lag. 0: a pass "
        "after every commit.",
    )
    derive_seconds: int = Field(
        5,
        ge=1,
        description="How often the `derive_visits` job derives events left waiting longer than this plus "
        "`INGEST_DERIVE_DELAY_SECONDS` (a crash between their commit and the writer's pass); the ingest writer "
        "itself derives within `INGEST_DERIVE_DELAY_SECONDS`.",
    )

    # Stripe
    stripe_api_version: str = Field(
        "2026-10-28.endive",
        description="The Stripe API version every call is pinned to: the one place it is set (a test checks it "
        "equals stripe-python's own pin, so upgrading the library flags it). Webhooks of older versions are read "
        "too.",
    )
    stripe_api_base: str = Field(
        "https://api.stripe.com", description="Where Stripe API calls go (tests point it at a local recording server)."
    )
    stripe_timeout_seconds: float = Field(
        15.0, gt=0, description="Timeout of one Stripe call (stripe-python retries network errors twice)."
    )
    stripe_webhook_tolerance_seconds: int = Field(
        300,
        ge=1,
        description="How far a `Stripe-Signature` timestamp may be from this server's clock, in the past (older "
        "deliveries are refused as replays) or in the future.",
    )
    stripe_catchup_seconds: int = Field(
        300,
        ge=10,
        description="How often the `catch_up_stripe` job lists each connected account's Stripe events and applies the "
        "ones whose webhook never arrived (and runs the history imports shops asked for).",
    )
    stripe_backfill_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="How many days of Stripe history (paid Checkout Sessions, charges, refunds, disputes, invoices) "
        "a newly connected account imports, as orders marked imported.",
    )
    webhook_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        description="Stripe deliveries one process verifies at once, on threads of their own. More wait in the "
        "event loop without a thread or a database connection, and so do verified ones until the process's webhook "
        "writer has committed them (in groups), so a burst of deliveries never starves the other routes.",
    )
    checkout_rate_limit: str = Field(
        "20/minute",
        description="Checkouts per publishable key and client IP (`limits` notation), per process or across "
        "every process with `REDIS_URL`: a public key cannot flood the shop's Stripe account with sessions.",
    )

    # Server-side conversions
    meta_graph_base: str = Field("https://graph.facebook.com", description="Meta Graph API base.")
    meta_api_version: str = Field("v26.0", description="Graph API version of Conversions API calls.")
    ga4_base: str = Field(
        "https://www.google-analytics.com",
        description="GA4 Measurement Protocol base (`https://region1.google-analytics.com` for EU data collection).",
    )
    google_datamanager_base: str = Field(
        "https://datamanager.googleapis.com", description="Data Manager API base (Google Ads conversions)."
    )
    google_oauth_token_url: str = Field(
        "https://oauth2.googleapis.com/token",
        description="Where Google refresh tokens are exchanged for access tokens.",
    )
    conversions_send_seconds: int = Field(
        5,
        ge=1,
        description="How often the sender looks for due deliveries (it is also woken at once after a webhook "
        "enqueues some).",
    )
    conversions_concurrency: int = Field(4, ge=1, le=32, description="Requests in flight per provider per process.")
    conversions_claim_limit: int = Field(
        2000,
        ge=1,
        le=10_000,
        description="Deliveries one pass of the sender claims. Deliveries of one pixel in a pass share requests where "
        "the provider allows it (Meta up to 1,000 events per request, the Data Manager API 2,000), so this also bounds "
        "the batches.",
    )
    google_datamanager_requests_per_minute: int = Field(
        300,
        ge=1,
        description="Requests per minute sent to the Data Manager API per OAuth client (Google allows about 300 per "
        "minute per Cloud project): counted per process, or across processes in Redis when REDIS_URL is set. "
        "Batches over the limit wait for the next free slot.",
    )
    conversions_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of one request to a provider (a timeout is retried)."
    )
    conversions_retry_base_seconds: float = Field(
        30.0, gt=0, description="First retry after about this long (half to all of it, jittered), doubling each time."
    )
    conversions_retry_max_seconds: float = Field(6 * 3600.0, gt=0, description="Longest wait between two tries (6 h).")
    conversions_lease_seconds: int = Field(
        60,
        ge=5,
        description="How long a sender owns a delivery it claimed; a killed sender's deliveries are retried after it.",
    )
    outbound_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names, IP addresses or CIDR networks that webhook pixels may reach "
        "although they are not public internet addresses. Empty: webhooks reach public addresses only, in every "
        "environment. For a receiver on this machine in development: `localhost,127.0.0.1`. `http://` is accepted "
        "for these hosts outside production only. In production, list only receivers you run yourself.",
    )

    # Dashboard
    rollup_seconds: int = Field(
        30,
        ge=1,
        description="How often `update_rollups` recomputes the days marked dirty; the dashboard lags the raw data "
        "by at most this.",
    )

    # Alerts
    alerts_evaluate_seconds: int = Field(
        300,
        ge=1,
        description="How often alert rules are evaluated: once per such interval across every process and instance.",
    )
    alert_email_max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="Tries of one alert e-mail before it is marked failed (a permanent refusal stops at once).",
    )
    alert_email_retry_seconds: float = Field(
        60.0,
        gt=0,
        description="First retry of a failed alert e-mail after this long, then ×4 each time (capped at 6 h).",
    )

    # Assistant
    llm_model: str = Field(
        "",
        description="The assistant's model as a litellm model name: `gpt-4o-mini`, `anthropic/claude-sonnet-4-5`, "
        "`openai/<name>` for an OpenAI-compatible server… Empty: the assistant is off and `/assistant` says how to "
        "turn it on.",
    )
    llm_api_base: str = Field(
        "",
        description="Where the provider is reached; empty: the provider's own endpoint. For a local "
        "OpenAI-compatible server (vLLM, llama.cpp, Ollama, LM Studio): `http://host:port/v1` with "
        "`LLM_MODEL=openai/<name>`.",
    )
    llm_api_key: str = Field(
        "",
        description="The provider's API key. Empty: litellm reads the provider's own variable (`OPENAI_API_KEY`, "
        "`ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, …).",
    )
    llm_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Longest wait for the provider: for its first chunk and between two chunks. Past it the answer "
        'ends with "the AI provider did not answer in time".',
    )
    llm_input_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        description="USD per million prompt tokens of `LLM_MODEL`, for a model litellm's price catalogue lacks (a "
        "local model) or to override its price. Without it an unknown model's calls are recorded at cost 0 (a "
        "warning is logged once).",
    )
    llm_output_cost_per_mtok: float | None = Field(
        None, ge=0, description="USD per million completion tokens of `LLM_MODEL` (as `LLM_INPUT_COST_PER_MTOK`)."
    )
    assistant_max_tool_calls: int = Field(
        8, ge=1, le=50, description="Tool calls per answer; past them the model is told to answer with what it has."
    )
    assistant_max_question_chars: int = Field(
        2000, ge=1, le=100_000, description="Longest question accepted, in characters."
    )
    assistant_history_messages: int = Field(
        20, ge=0, le=200, description="Earlier messages of the conversation sent with a question (its context)."
    )
    docs_url: str = Field(
        "",
        description="Where users open the documentation site: the assistant's `search_docs` links point there. Empty "
        "(the default): the app's own `/help/` (PUBLIC_URL + `/help`), where it serves the site `make run` builds "
        "with mkdocs into `site/`. Set it when the docs are published elsewhere, e.g. `https://docs.example.com`.",
    )

    @field_validator("llm_input_cost_per_mtok", "llm_output_cost_per_mtok", mode="before")
    @classmethod
    def _blank_price(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_api_base")
    @classmethod
    def _llm_api_base(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if value and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError(f"LLM_API_BASE {value!r} must be an absolute http(s) URL, e.g. http://127.0.0.1:8080/v1")
        return value.rstrip("/")

    # Jobs
    jobs_enabled: bool = Field(True, description="Start the in-process job runner with the backend.")
    web_runs_jobs: bool = Field(
        True,
        description="With `JOBS_ENABLED`, the web process (Reflex) runs every scheduled job. `false` in a cluster "
        "where `python -m app.cli jobs` runs them: the web process then only flushes its own in-memory counters (as an "
        "api process does).",
    )
    job_lease_seconds: int = Field(
        60, ge=5, description="Lease length of a leased job; renewed every third of it while the job runs."
    )
    key_usage_flush_seconds: int = Field(
        30, ge=1, description="How often API keys' last-used times are written from memory."
    )
    api_usage_flush_seconds: int = Field(
        30,
        ge=1,
        description="How often each process adds the API requests it counted in memory to `api_usage_daily` (once "
        "more at shutdown).",
    )

    # Cluster
    redis_url: str = Field(
        "",
        description="Empty: one process keeps everything in memory (the embedded default). `redis://host:6379/0`: "
        "Reflex keeps each tab's state in Redis, so the web role may run several backend workers "
        "(`GRANIAN_WORKERS`) and any of them serves any tab, and the login, ingest and checkout rate limits are "
        "counted in Redis, shared by every process instead of multiplied by their number.",
    )
    log_format: LogFormat = Field(
        LogFormat.TEXT,
        description="`text`: plain log lines (the default). `json`: one JSON object per line, with the request id, "
        "account id, route, status and duration of each request.",
    )
    metrics_enabled: bool = Field(
        False,
        description="Serve Prometheus metrics on `/_ops/metrics` of each process's own port (multiprocess mode when "
        "`PROMETHEUS_MULTIPROC_DIR` is set). Off by default: the single process listens on its public port. In a "
        "cluster the proxy must not expose `/_ops/` (the nginx template refuses it).",
    )

    # Ad platform reports
    meta_ads_api_version: str = Field(
        "v27.0", description="Graph API version of Meta Insights (ad reporting) calls; the base is `META_GRAPH_BASE`."
    )
    google_ads_api_base: str = Field(
        "https://googleads.googleapis.com", description="Google Ads API base (reporting through `searchStream`)."
    )
    google_ads_api_version: str = Field("v26", description="Google Ads API version of reporting calls.")
    ads_sync_seconds: int = Field(
        300,
        ge=1,
        description="How often `sync_ad_reports` looks for due work: hourly syncs of today and yesterday, nightly "
        "syncs of the last `ADS_NIGHTLY_DAYS`, backfills, and syncs that waited out a platform's rate limit.",
    )
    ads_backfill_days: int = Field(
        90, ge=1, le=90, description="Days of reports fetched when an ad account is connected (up to 90)."
    )
    ads_nightly_days: int = Field(
        28, ge=2, le=90, description="Days the nightly sync fetches again (the platforms revise recent figures)."
    )
    ads_meta_async_days: int = Field(
        7,
        ge=1,
        description="Meta ranges longer than this many days are fetched as asynchronous report runs (Meta times out "
        "on long synchronous Insights queries).",
    )
    ads_report_poll_seconds: float = Field(
        15.0, ge=0, description="How long the sync waits before asking again whether a Meta report run is done."
    )
    ads_retry_base_seconds: float = Field(
        60.0,
        ge=0,
        description="Wait after a rate-limit or quota answer that does not say how long to wait (doubling each "
        "time, up to 6 h); a platform's own estimate wins.",
    )
    ads_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one reporting request to a platform.")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(f"REDIS_URL {value!r} must be a redis:// (or rediss://, unix://) URL")
        return value

    @field_validator(
        "meta_graph_base",
        "ga4_base",
        "google_datamanager_base",
        "google_oauth_token_url",
        "sendgrid_api_host",
        "google_ads_api_base",
    )
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{value!r} must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("docs_url")
    @classmethod
    def _docs_url(cls, value: str) -> str:
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{value!r} must be an absolute http(s) URL, or empty for the app's own /help")
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url_is_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("PUBLIC_URL must be an absolute http(s) URL, e.g. https://paidsignal.example.com")
        return value.rstrip("/")

    @field_validator("email_from")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError(f"EMAIL_FROM {value!r} must be an address, e.g. 'PaidSignal <no-reply@example.com>'")
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _ca_file_exists(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"SMTP_CA_FILE {value!r} is not a file; give a PEM file of CA certificates or unset it")
        return value

    @field_validator("extra_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("outbound_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: list[str]) -> list[str]:
        clean = []
        for entry in value:
            try:
                clean.append(str(ipaddress.ip_network(entry.strip("[]"), strict=False)))
                continue
            except ValueError:
                pass
            name = entry.lower().rstrip(".")
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"OUTBOUND_ALLOWED_HOSTS entry {entry!r} is neither a host name, an IP address nor a CIDR "
                    "network, e.g. localhost,127.0.0.1,10.0.0.0/8"
                )
            clean.append(name)
        return clean

    @field_validator("secret_key_previous", "outbound_allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "ingest_rate_limit",
        "login_rate_limit_per_email_and_ip",
        "login_rate_limit_per_email",
        "login_rate_limit_per_ip",
        "checkout_rate_limit",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a rate limit such as '500/second' or '10/15minutes'") from error
        return value

    @field_validator("password_hash_profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in {"default", "fast"}:
            raise ValueError("PASSWORD_HASH_PROFILE must be 'default' or 'fast' (fast is for tests only)")
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.paidsignal_env is Environment.PRODUCTION:
            if self.secret_key.strip() in _DEFAULT_SECRETS or len(self.secret_key) < 32:
                raise SettingsError(
                    "SECRET_KEY is missing or a default value. In production set SECRET_KEY to at least "
                    "32 random characters, e.g. the output of: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'"
                )
            if self.password_hash_profile != "default":
                raise SettingsError("PASSWORD_HASH_PROFILE=fast is for tests; unset it in production")
            if self.email_backend is EmailBackend.SENDGRID and not self.sendgrid_api_key.strip():
                raise SettingsError(
                    "EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY: create an API key with the 'Mail Send' "
                    "permission in SendGrid (Settings > API Keys) and set it"
                )
            # An unset SMTP_HOST would quietly mean localhost: in production the server must be named.
            if self.email_backend is EmailBackend.SMTP and (
                "smtp_host" not in self.model_fields_set or not self.smtp_host.strip()
            ):
                raise SettingsError(
                    "EMAIL_BACKEND=smtp needs SMTP_HOST (and usually SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD), "
                    "e.g. SendGrid's relay: SMTP_HOST=smtp.sendgrid.net SMTP_PORT=587 SMTP_USERNAME=apikey"
                )
        return self

    @property
    def is_production(self) -> bool:
        return self.paidsignal_env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'paidsignal.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def backoffice_origins(self) -> list[str]:
        """Origins allowed to call the backoffice with credentials (Reflex's CORS list)."""
        origin = _origin(self.public_url)
        origins = [origin]
        parts = urlsplit(origin)
        if not self.is_production and parts.hostname in {"localhost", "127.0.0.1"}:
            other = "127.0.0.1" if parts.hostname == "localhost" else "localhost"
            port = f":{parts.port}" if parts.port else ""
            origins.append(f"{parts.scheme}://{other}{port}")
        origins.extend(o for o in self.extra_cors_origins if o not in origins)
        return origins

    def resolved_secret_key(self) -> str:
        """The master secret; in development it is generated into the data folder on first use."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Open exclusively so two processes starting at once agree on one key.
        try:
            with path.open("x") as handle:
                handle.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
