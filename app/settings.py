"""Every setting, read from the environment once, typed and validated at start.

The README's "Configuration" table documents each field here; keep them in step.
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

# Values that must never reach production: the placeholder documented in the README and the empty string.
_DEFAULT_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class EmailBackend(StrEnum):
    FILE = "file"
    SMTP = "smtp"
    SENDGRID = "sendgrid"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and what to set."""


class Settings(BaseSettings):
    """PaidSignal's settings. Environment variables are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    paidsignal_env: Environment = Environment.DEVELOPMENT
    public_url: str = "http://localhost:3000"
    port: int = 3000
    data_dir: Path = Path("data")
    database_url: str = ""
    database_auth_token: str = ""
    database_sync_url: str = ""
    # Most connections one process opens; 0: one for every thread that may use the database at once (computed in
    # app/db.py). Lower it to fit PostgreSQL's max_connections across processes: requests then wait, never deadlock.
    database_pool_size: int = Field(default=0, ge=0, le=10_000)
    secret_key: str = ""
    # Earlier SECRET_KEYs, comma-separated: still accepted for verification while secrets rotate.
    secret_key_previous: Annotated[list[str], NoDecode] = Field(default_factory=list)
    extra_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    invite_ttl_hours: int = Field(default=24 * 7, ge=1)
    password_hash_profile: str = "default"
    # Login attempts (limits notation), narrowest first. Per e-mail and client IP, tight: guessing one password from
    # one place. Per e-mail from anywhere, loose: a spread-out guess, high enough that someone elsewhere cannot lock
    # the owner out. Per client IP: one place trying many e-mails.
    login_rate_limit_per_email_and_ip: str = "10/15minutes"
    login_rate_limit_per_email: str = "100/15minutes"
    login_rate_limit_per_ip: str = "50/15minutes"

    email_backend: EmailBackend = EmailBackend.FILE
    email_from: str = "PaidSignal <no-reply@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    # Implicit TLS from the first byte (usually port 465); when set, SMTP_STARTTLS does not apply.
    smtp_ssl: bool = False
    # PEM file of the CA(s) that signed the server's certificate; empty: the system's trust store.
    smtp_ca_file: str = ""
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    sendgrid_api_key: str = ""
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout_seconds: float = Field(default=10.0, gt=0)

    ingest_rate_limit: str = "500/second"
    key_cache_seconds: float = Field(default=5.0, ge=0)
    ingest_max_body_bytes: int = Field(default=1 << 20, ge=1024)

    # The one place the Stripe API version is pinned (tests check it matches stripe-python's own pin).
    stripe_api_version: str = "2026-10-28.endive"
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(default=15.0, gt=0)
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # Stripe deliveries one process works on at once (their writes go one at a time anyway); more wait in the event
    # loop holding neither a thread nor a database connection, so a burst never starves the other routes.
    webhook_concurrency: int = Field(default=8, ge=1, le=64)
    checkout_rate_limit: str = "20/minute"

    # Server-side conversions: provider endpoints (tests point them at a local recording server) and the sender.
    meta_graph_base: str = "https://graph.facebook.com"
    meta_api_version: str = "v26.0"
    ga4_base: str = "https://www.google-analytics.com"
    google_datamanager_base: str = "https://datamanager.googleapis.com"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    conversions_send_seconds: int = Field(default=5, ge=1)
    conversions_concurrency: int = Field(default=4, ge=1, le=32)
    conversions_timeout_seconds: float = Field(default=10.0, gt=0)
    conversions_retry_base_seconds: float = Field(default=30.0, gt=0)
    conversions_retry_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    conversions_lease_seconds: int = Field(default=60, ge=5)
    # URLs the users of an account enter (webhook pixels) reach only public internet addresses. Comma-separated host
    # names, IP addresses or CIDR networks that may be private anyway (local recorders in development and tests,
    # e.g. "localhost,127.0.0.1"); empty by default. http:// is accepted for them outside production only.
    outbound_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # How often the update_rollups job recomputes the days marked dirty (the dashboard lags by at most this).
    rollup_seconds: int = Field(default=30, ge=1)

    # Alerts: how often rules are evaluated (once per interval across all processes), and e-mail retries.
    alerts_evaluate_seconds: int = Field(default=300, ge=1)
    alert_email_max_attempts: int = Field(default=5, ge=1, le=20)
    alert_email_retry_seconds: float = Field(default=60.0, gt=0)

    # Assistant: litellm model name (empty: the assistant is off). Provider keys come from LLM_API_KEY or from
    # litellm's own variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, …); LLM_API_BASE points at another server.
    llm_model: str = ""
    llm_api_base: str = ""
    llm_api_key: str = ""
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    # USD per million tokens, for a model litellm's price catalogue lacks (or to override its price).
    llm_input_cost_per_mtok: float | None = Field(default=None, ge=0)
    llm_output_cost_per_mtok: float | None = Field(default=None, ge=0)
    assistant_max_tool_calls: int = Field(default=8, ge=1, le=50)
    assistant_max_question_chars: int = Field(default=2000, ge=1, le=100_000)
    assistant_history_messages: int = Field(default=20, ge=0, le=200)

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

    jobs_enabled: bool = True
    job_lease_seconds: int = Field(default=60, ge=5)
    key_usage_flush_seconds: int = Field(default=30, ge=1)
    # How often each process adds the API requests it counted in memory to api_usage_daily (flush_api_usage).
    api_usage_flush_seconds: int = Field(default=30, ge=1)

    @field_validator(
        "meta_graph_base", "ga4_base", "google_datamanager_base", "google_oauth_token_url", "sendgrid_api_host"
    )
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{value!r} must be an absolute http(s) URL")
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
