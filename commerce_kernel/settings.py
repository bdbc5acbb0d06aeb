"""The one settings object: environment variables and `.env`, validated with pydantic."""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./commerce.db"
SECRET_KEY_FILE = ".commerce-secret-key"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


class MissingSecretKey(RuntimeError):
    """DATABASE_URL is set but SECRET_KEY is not: refuse to sign tokens with a local key."""


class SectionSettings(BaseSettings):
    """Base for a plugin's settings section: read from the same environment and `.env`.

    A field `chunk_rows` of the `catalog` plugin's section is the variable
    `CATALOG_CHUNK_ROWS`: the prefix is the plugin name in capitals and `_`, unless the class
    sets `env_prefix` (`""` for bare names); a field with a `validation_alias` is read under
    that exact name. Values the test kit's `commerce_settings` gives win over the environment.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)
    env_prefix: ClassVar[str | None] = None

    @classmethod
    def variable_names(cls, prefix: str) -> dict[str, str]:
        """Each field's environment variable (lower case) -> the name it is given under in
        code (its alias if it has one, else the field name)."""
        names: dict[str, str] = {}
        for field_name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, str):
                names[alias.lower()] = alias
            else:
                names[f"{prefix}{field_name}".lower()] = field_name
        return names


class Settings(SectionSettings):
    """The kernel's settings. Unset values mean the embedded default (see API.md)."""

    env_prefix: ClassVar[str | None] = ""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    redis_prefix: str = "commerce:"
    secret_key: str | None = None
    debug: bool = False
    allowed_hosts: CsvList = Field(default_factory=lambda: ["localhost", "127.0.0.1"])
    # Addresses/networks of the reverse proxies in front (`10.0.0.5,192.168.0.0/16`): only
    # a request from one of them has its client taken from `X-Forwarded-For` (and its scheme
    # from `X-Forwarded-Proto`). None by default: the client is the socket peer.
    trusted_proxies: CsvList = Field(default_factory=list)
    cors_allowed_origins: CsvList = Field(default_factory=list)
    commerce_plugins: CsvList | None = None
    commerce_disabled_plugins: CsvList = Field(default_factory=list)
    currency: str = "USD"
    max_request_bytes: int = 1024 * 1024
    access_token_ttl: int = 900
    admin_access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    # Seconds a process may reuse what decides a customer token (account active, token
    # epoch, family revoked): the bound on how long one outlives a change made outside the
    # kernel. 0 checks the database on every request, as admin tokens always are.
    token_state_ttl: float = Field(default=5.0, ge=0, le=3600)
    email_host: str | None = None
    email_port: int = 25
    email_use_tls: bool = False
    email_host_user: str | None = None
    email_host_password: str | None = None
    default_from_email: str = "webmaster@localhost"
    email_file_path: str | None = None
    email_to_log_allowed: bool = False
    log_level: str = "INFO"
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_timeout: float = 10.0
    task_retry_delay: float = 1.0

    @field_validator(
        "allowed_hosts",
        "trusted_proxies",
        "cors_allowed_origins",
        "commerce_plugins",
        "commerce_disabled_plugins",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network (CIDR)"
                ) from None
        return value

    @field_validator("email_host", "redis_url", "secret_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise ValueError("CURRENCY must be an ISO 4217 code such as USD")
        return value

    @property
    def embedded(self) -> bool:
        """True when running on SQLite (one process: in-process queue and pub/sub)."""
        return self.database_url.startswith("sqlite")

    @property
    def database_configured(self) -> bool:
        """True when DATABASE_URL was given (not the embedded default's unset value)."""
        return "database_url" in self.model_fields_set

    def resolved_secret_key(self, *, create: bool = True) -> str:
        """The signing key: configured, or, with DATABASE_URL unset (the embedded default),
        generated once into a local file."""
        if self.secret_key:
            return self.secret_key
        if self.database_configured:
            raise MissingSecretKey("SECRET_KEY is required when DATABASE_URL is set")
        path = Path(SECRET_KEY_FILE)
        if path.exists():
            return _read_key(path)
        if not create:
            raise RuntimeError("no SECRET_KEY configured")
        key = secrets.token_urlsafe(48)
        try:
            # Owner-only from the first byte (no window at the umask's 0644), and only one
            # of two processes starting at once writes it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_key(path)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
        return key


def _read_key(path: Path) -> str:
    # Another process may have created the file a moment ago and not written it yet.
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: remove it or set SECRET_KEY")
