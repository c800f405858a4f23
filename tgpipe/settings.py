"""The one settings object of tgpipe, read from the environment (prefix ``TGPIPE_``).

Every service reads the same :class:`Settings`; invalid values fail at start-up with
pydantic's error naming the variable, never later in a handler.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, SecretStr, field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import TELEGRAM_MAX_TEXT_CHARS
from schemas.vocabulary import MediaKind

#: Default size caps of export media files, per kind (bytes). Telegram sends photos of at most
#: 10 MB (its limit for an uploaded photo; Telegram Desktop exports the photo as Telegram
#: recompressed it, usually far less), so 10 MiB for ``photo``; any other file may be up to 2 GB,
#: or 4 GB with Telegram Premium, so 4 GiB for the other kinds (they are read only when
#: ``media_download_kinds`` includes them). Nothing larger can be a Telegram file.
MEDIA_MAX_BYTES_DEFAULT: dict[MediaKind, int] = {
    kind: 10 * 1024**2 if kind == MediaKind.PHOTO else 4 * 1024**3 for kind in MediaKind}


class Settings(BaseSettings):
    """Configuration shared by the collector, writer and media services.

    Unset ``database_url`` / ``kafka_bootstrap_servers`` mean "use the embedded default"
    (only ``tgpipe archive`` starts one); the deployable services require both.
    """

    # An empty variable (``TGPIPE_HOME=``, as compose files and shells often leave them) is unset: an
    # empty path would otherwise be the current directory, and the embedded server's data would land there.
    model_config = SettingsConfigDict(env_prefix="TGPIPE_", extra="ignore", frozen=True, env_ignore_empty=True)

    home: Path = Field(default=Path("~/.tgpipe"), description="Directory for the embedded default's data.")
    database_url: str | None = Field(default=None, description="PostgreSQL URL (postgresql://…).")
    kafka_bootstrap_servers: str | None = Field(default=None, description="Kafka bootstrap servers, host:port[,…].")
    media_root: Path | None = Field(default=None, description="Content-addressed photo store; default HOME/media.")

    # Kafka producer guarantees. Apache Kafka: keep both on. The local Tansu broker cannot
    # serve the idempotent producer (InitProducerId v0), so the embedded default turns it off.
    kafka_enable_idempotence: bool = True
    kafka_acks: Literal["all", "1", "0"] = "all"
    kafka_session_timeout_ms: PositiveInt = 10_000
    kafka_heartbeat_interval_ms: PositiveInt = 3_000
    # Producer batching (collector and writer). One record batch per partition is filled up to
    # this size, or until linger ends; larger batches cost far less CPU per record (docs/performance.md).
    # Apache Kafka refuses a batch over the topic's max.message.bytes (broker default 1 MiB + 12 B).
    kafka_linger_ms: NonNegativeInt = Field(default=5, description="Producer: ms a batch waits for more records.")
    kafka_producer_batch_bytes: int = Field(
        default=256 * 1024, ge=16 * 1024, le=16 * 1024 * 1024,
        description="Producer: bytes of one record batch per partition (aiokafka max_batch_size).")

    topic_messages: str = "tgpipe.messages"
    topic_committed: str = "tgpipe.messages.committed"
    topic_dead_letter: str = "tgpipe.dead-letter"
    topic_fetch_requests: str = Field(
        default="tgpipe.fetch-requests",
        description="fetch.requested / fetch.failed: ranges the API asks the Telegram collector to fetch (issue 12).")
    topic_partitions: PositiveInt = Field(default=6, description="Partitions of topics tgpipe creates.")
    topic_replication_factor: PositiveInt = 1

    writer_group: str = "tgpipe-writer"
    media_group: str = "tgpipe-media"
    telegram_fetch_group: str = Field(
        default="tgpipe-telegram-fetch", description="Consumer group of the Telegram collector on the fetch-requests topic.")
    api_fetch_timeout_s: PositiveFloat = Field(
        default=120.0, description="How long a range fetch waits for its coverage before it fails (FetchError).")
    writer_batch_max_records: PositiveInt = 500
    batch_timeout_ms: PositiveInt = 200
    transient_retry_timeout_s: PositiveFloat = Field(
        default=300.0, description="How long a batch retries transient errors before it is redelivered."
    )
    publish_chunk: PositiveInt = Field(default=2000, description="Collector: events in flight before awaiting acks.")
    readiness_file: Path | None = Field(
        default=None, description="Writer/media service: where to write its readiness state (JSON) for probes.")
    metrics_port: NonNegativeInt = Field(
        default=0, description="Writer/media service: HTTP port of /metrics, /health/ready, /health/live (0: off).")
    # Every setting is a Field(default, description): groups of them have the same shape (`duplicates`
    # pairs them), each is its own setting.
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1,
        description="Address the metrics and health server listens on: 127.0.0.1 (this host only) by default; "
                    "0.0.0.0 (every interface) in a container, where the probes and Prometheus come from outside.")
    startup_timeout_s: NonNegativeFloat = Field(
        default=300.0, description="Writer/media service: how long start-up waits for Kafka, then for PostgreSQL, "
                                   "to answer before it exits 1 (0: without end).")
    liveness_batch_timeout_s: PositiveFloat = Field(
        default=600.0, description="A batch in flight for longer than this makes /health/live fail (stuck).")
    stall_timeout_s: PositiveFloat = Field(
        default=300.0, description="Writer/media service: a partition whose records are in hand but whose offset "
                                   "has not been committed for this long is stalled: readiness fails.")
    max_text_chars: PositiveInt = Field(
        default=TELEGRAM_MAX_TEXT_CHARS, description="Longest message text or caption accepted, in characters "
        "(Telegram's limit: 4,096; captions 1,024 or 2,048). Longer events are dead-lettered, and the collector "
        "does not publish them.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Service logs: text lines, or one JSON object per line.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Service log level (DEBUG adds one line per processed event).")
    kafka_group_instance_id: str | None = Field(
        default=None, description="Static group membership: a stable id per replica (unique within the group).")

    media_download_kinds: frozenset[MediaKind] = frozenset({MediaKind.PHOTO})
    media_export_roots: tuple[Path, ...] = Field(
        default=(), description="Media service: the only directories whose exports it reads (JSON list); an "
                                "event naming an export elsewhere gets `export_root_not_allowed`, nothing opened. "
                                "Empty: export media are refused. `tgpipe archive --export P` allows just P.")
    media_max_bytes: dict[MediaKind, PositiveInt] = Field(
        default_factory=lambda: dict(MEDIA_MAX_BYTES_DEFAULT),
        description="Media service: the largest export file read per media kind (bytes; JSON object, merged "
                    "over the defaults); a larger one is `too_large`, never stored.")
    export_timezone: str | None = Field(
        default=None,
        description="IANA zone of an export's local `date` when `date_unixtime` is absent (2020-era exports); "
                    "unset: such an export is refused, never read as UTC.",
    )
    export_observed_at: AwareDatetime | None = Field(
        default=None,
        description="When the export was made (contract O1); unset: its newest date or edit date. A later time "
                    "makes this reading replace an earlier archive of the same messages (e.g. one made with a "
                    "wrong time zone).",
    )

    # Live Telegram collection (Telethon). One session per process: never share a session file.
    telegram_api_id: PositiveInt | None = Field(default=None, description="API id from my.telegram.org.")
    telegram_api_hash: SecretStr | None = Field(default=None, description="API hash from my.telegram.org.")
    telegram_session: SecretStr | None = Field(
        default=None, description="Telethon StringSession; else read from telegram_session_file.")
    telegram_session_file: Path | None = Field(
        default=None, description="Where `tgpipe login` saves the session (0600); default HOME/telegram.session.")
    telegram_channels: list[str] = Field(
        default_factory=list, description="Channels to collect when no --channel is given (@name or id).")
    telegram_flood_budget_s: NonNegativeFloat = Field(
        default=900.0, description="Total FloodWait seconds one process (account) may sleep; a longer wait "
                                   "stops that channel.")
    telegram_reconcile_window: NonNegativeInt = Field(
        default=200, description="Most recent archived messages per channel re-fetched at start (edits, deletions).")
    telegram_resolve_interval_s: NonNegativeFloat = Field(
        default=2.0, description="Minimum seconds between two username resolutions (heavily rate-limited).")
    telegram_media_max_attempts: PositiveInt = Field(
        default=5, description="Download attempts per Telegram photo before it is recorded as failed.")

    # The history API (services/api; `tgpipe api`, `tgpipe serve`).
    api_host: str = Field(default="127.0.0.1", min_length=1, description="API: address uvicorn listens on.")
    api_port: int = Field(default=8080, ge=1, le=65535, description="API: port uvicorn listens on.")
    api_token: SecretStr | None = Field(
        default=None, description="API: bearer token every endpoint but /health requires; unset: no auth.")
    api_page_limit: int = Field(
        default=1000, ge=1, le=10_000, description="API: most messages of one page (the `limit` parameter's cap).")
    api_search_rank_window: int = Field(
        default=5000, ge=1, le=1_000_000,
        description="API: a search sorted by rank ranks at most this many matches, the newest (docs/api.md).")
    api_history_batch: int = Field(
        default=500, ge=1, le=10_000, description="API: messages per server-sent event of /api/v1/history.")
    api_cors_origins: list[str] = Field(
        default_factory=list, description="API: origins allowed by CORS (JSON list); empty: no CORS headers.")
    api_thumbnail_dir: Path | None = Field(
        default=None, description="API: cache of the web viewer's photo thumbnails; default MEDIA_ROOT/thumbnails.")

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        """Refuse a URL that cannot work whatever the server says: another scheme, a port that is not
        a number. The message never repeats the URL (it may hold a password)."""
        if not value:
            return value
        scheme, _, rest = value.partition("://")
        if scheme not in ("postgresql", "postgres") or not _:
            raise ValueError(f"must be a postgresql:// URL, not {scheme + '://' if _ else 'that'}")
        hosts = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
        for host in filter(None, hosts.split(",")):
            port = host.rpartition("]")[2].rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
            if port and not port.isdigit():
                raise ValueError(f"port {port!r} is not a number")
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        """An empty ``TGPIPE_API_TOKEN`` (compose's ``${TGPIPE_API_TOKEN:-}``) means no token."""
        return None if value == "" else value

    @field_validator("export_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("media_max_bytes")
    @classmethod
    def _over_defaults(cls, value: dict[str, int]) -> dict[str, int]:
        return {**MEDIA_MAX_BYTES_DEFAULT, **value}

    @field_validator("media_export_roots")
    @classmethod
    def _resolve_roots(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        roots = tuple(dict.fromkeys(root.expanduser().resolve() for root in value))
        if Path("/") in roots:
            raise ValueError("/ would allow every file of the host: name the folder(s) holding the exports")
        return roots

    @field_validator("home", "media_root", "telegram_session_file", "readiness_file", "api_thumbnail_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def media_dir(self) -> Path:
        """Where photos are stored: ``media_root`` or ``home/media``."""
        return self.media_root or self.home / "media"

    @property
    def thumbnail_dir(self) -> Path:
        """Where the web viewer caches photo thumbnails: ``api_thumbnail_dir`` or ``media_dir/thumbnails``."""
        return self.api_thumbnail_dir or self.media_dir / "thumbnails"

    @property
    def telegram_session_path(self) -> Path:
        """Where the Telethon session string is kept: ``telegram_session_file`` or ``home/telegram.session``."""
        return self.telegram_session_file or self.home / "telegram.session"

    def require_external(self) -> tuple[str, str]:
        """Return ``(database_url, kafka_bootstrap_servers)`` for a deployed service.

        Raises:
            ConfigurationError: when either is unset (only ``archive`` starts embedded parts).
        """
        from tgpipe.errors import ConfigurationError

        missing = [name for name, value in (("TGPIPE_DATABASE_URL", self.database_url),
                                            ("TGPIPE_KAFKA_BOOTSTRAP_SERVERS", self.kafka_bootstrap_servers))
                   if not value]
        if missing:
            raise ConfigurationError(f"{' and '.join(missing)} must be set for a deployed service")
        return self.database_url, self.kafka_bootstrap_servers  # type: ignore[return-value]
