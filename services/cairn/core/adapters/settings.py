"""One settings class for every Cairn process.

The variable names are the ones `scripts/stack env` prints (and compose/ sets), so a shell
that evaluated that output, a container and a test all configure Cairn the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

from cairn.core.adapters.blobstore import ReadableClass
from cairn.core.adapters.targets import allowed_origins

# Secrets that are (or were) written in Cairn's own source: development keys and compose's
# old placeholders. Anyone can sign or log in with them, so no setting may hold one, in any
# environment (a stack that trusted one let anyone on Kafka act as a Cairn service).
PUBLIC_SECRETS = frozenset({
    "cairn-development-signing-key", "cairn-development-webhook-key",
    "change-me-demo-token", "change-me-webhook-key", "change-me-signing-key", "change-me",
})
SECRETS_DIR = "CAIRN_SECRETS_DIR"  # a directory of files named like the variables
KAFKA_DELIVERY_TIMEOUT_S = 50.0  # CAIRN_KAFKA_DELIVERY_TIMEOUT's default


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def is_public(secret: str) -> bool:
    return secret.strip().lower() in PUBLIC_SECRETS


class Settings(BaseSettings):
    """Endpoints and knobs, read from the environment (and `.env` if present)."""

    # Errors never echo the input: it holds every secret the process was given.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first, then `.env`, then CAIRN_SECRETS_DIR: a file per variable
        (`CAIRN_SIGNING_KEY`, ...), as compose's `secrets` service writes them, so a secret
        need not pass through a compose file or a container's environment."""
        folder = os.environ.get(SECRETS_DIR)
        files = SecretsSettingsSource(settings_cls, secrets_dir=folder) if folder \
            else file_secret_settings
        return init_settings, env_settings, dotenv_settings, files

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    # Seconds Kafka has to acknowledge a produced record before every Cairn producer drops it
    # and fails the produce (librdkafka's message.timeout.ms, cairn.core.adapters.kafka; the
    # produce waits 10 s longer, so its outcome is definite: an api 503 means the event was not
    # written, and never will be).
    kafka_delivery_timeout: float = Field(
        KAFKA_DELIVERY_TIMEOUT_S, gt=0, validation_alias=_env("CAIRN_KAFKA_DELIVERY_TIMEOUT"))
    schema_registry_url: str = Field(
        "http://127.0.0.1:18081/apis/ccompat/v7", validation_alias=_env("SCHEMA_REGISTRY_URL")
    )
    search_url: str = Field("http://127.0.0.1:19200", validation_alias=_env("SEARCH_URL"))
    search_engine: Literal["opensearch", "elasticsearch"] = Field(
        "opensearch", validation_alias=_env("SEARCH_ENGINE")
    )
    database_url: str = Field(
        "postgresql://cairn:cairn@127.0.0.1:15432/cairn", validation_alias=_env("DATABASE_URL")
    )
    # Seconds a PostgreSQL statement, connect or cancel may take before the client gives up
    # on it and its connection (cairn.core.adapters.postgres): a link a partition left
    # half-open, with no reset, would otherwise hold a service until the kernel's TCP
    # timeout (~15 min). A timed-out batch is rolled back and redone on a new connection.
    pg_command_timeout: float = Field(
        30.0, gt=0, validation_alias=_env("CAIRN_PG_COMMAND_TIMEOUT"))
    api_url: str = Field("http://127.0.0.1:18000", validation_alias=_env("CAIRN_API_URL"))
    blob_dir: Path = Field(Path(".stack/data/blobs"), validation_alias=_env("CAIRN_BLOB_DIR"))
    # Blobs in an S3-compatible bucket instead of blob_dir: `s3://bucket/prefix` (endpoint,
    # region and credentials from the AWS_* variables; cairn.core.adapters.blob_stores).
    blob_url: str | None = Field(None, pattern=r"^s3://[^/]+(/.*)?$",
                                 validation_alias=_env("CAIRN_BLOB_URL"))
    # With CAIRN_BLOB_URL: a client's direct upload over this many bytes goes in parts of
    # it, several at once and resumable (S3 allows 5 MiB to 5 GiB; cairn.core.adapters.
    # s3_multipart); and uploads begun this long ago and not completed are aborted by the
    # archiver.
    multipart_part_bytes: int = Field(64 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3,
                                      validation_alias=_env("CAIRN_MULTIPART_PART_BYTES"))
    upload_expiry_seconds: float = Field(
        7 * 86400.0, ge=0, validation_alias=_env("CAIRN_UPLOAD_EXPIRY_SECONDS"))
    topic_prefix: str = Field("", validation_alias=_env("CAIRN_TOPIC_PREFIX"))
    # Copies of each Cairn topic and how many must have a write before the broker acknowledges
    # it (producers send acks=all): 1 and 1 for one broker; 3 and 2 on a replicated cluster
    # (`scripts/stack up --cluster`), so one broker may die without losing an acknowledged event.
    topic_replication: int = Field(1, ge=1, validation_alias=_env("CAIRN_TOPIC_REPLICATION"))
    topic_min_isr: int = Field(1, ge=1, validation_alias=_env("CAIRN_TOPIC_MIN_ISR"))
    index_prefix: str = Field("cairn", validation_alias=_env("CAIRN_INDEX_PREFIX"))
    # Near-real-time visibility of indexed changes (the index's refresh_interval); nothing
    # ever refreshes per request.
    search_refresh: str = Field("1s", validation_alias=_env("CAIRN_SEARCH_REFRESH"))
    # Replicas of the index's shard, set when an index is made (0 on one search node, which
    # could not place a replica; 1 on a two-node cluster, so one node may die).
    search_replicas: int = Field(0, ge=0, validation_alias=_env("CAIRN_SEARCH_REPLICAS"))
    http_host: str = Field("127.0.0.1", validation_alias=_env("CAIRN_HTTP_HOST"))
    http_port: int = Field(18000, validation_alias=_env("CAIRN_HTTP_PORT"))
    kinds: str = Field("model,dataset,eval_log", validation_alias=_env("CAIRN_KINDS"))
    max_event_bytes: int = Field(1_000_000, validation_alias=_env("CAIRN_MAX_EVENT_BYTES"))
    max_file_bytes: int = Field(5 * 1024**3, validation_alias=_env("CAIRN_MAX_FILE_BYTES"))
    max_files: int = Field(10_000, validation_alias=_env("CAIRN_MAX_FILES"))
    # The api's bearer tokens, `actor=token` pairs separated by commas; empty refuses all writes.
    api_tokens: str = Field("", validation_alias=_env("CAIRN_API_TOKENS"))
    # The token the SDK and CLI send to the api.
    token: str | None = Field(None, validation_alias=_env("CAIRN_TOKEN"))
    # Access control: a bootstrap administrator's token (actor "admin"; the CAIRN_API_TOKENS
    # actors are administrators too), and whether this is a development setup. Outside
    # development the api refuses to start with a placeholder or short bootstrap token.
    admin_token: SecretStr = Field(SecretStr(""), validation_alias=_env("CAIRN_ADMIN_TOKEN"))
    environment: Literal["production", "development"] = Field(
        "production", validation_alias=_env("CAIRN_ENVIRONMENT"))
    # Signed Kafka events (cairn.core.adapters.signing): the registry's secret every producer key
    # derives from (every Cairn service needs it and refuses to start without it; there is
    # no development key), and a service account's own name and key (hex) for producers
    # outside Cairn.
    signing_key: SecretStr = Field(SecretStr(""), validation_alias=_env("CAIRN_SIGNING_KEY"))
    producer: str | None = Field(None, validation_alias=_env("CAIRN_PRODUCER"))
    producer_key: SecretStr = Field(SecretStr(""), validation_alias=_env("CAIRN_PRODUCER_KEY"))
    # OpenLineage in (cairn.core.domain.openlineage): the project of datasets whose namespace
    # no project claims (its `openlineage.namespaces` setting), and the topic the OpenLineage
    # Kafka transport writes to (read by cairn.openlineage_in; the topic prefix applies).
    openlineage_project: str = Field("openlineage",
                                     validation_alias=_env("CAIRN_OPENLINEAGE_PROJECT"))
    openlineage_topic: str = Field("openlineage", validation_alias=_env("CAIRN_OPENLINEAGE_TOPIC"))
    # The validator: where schemas and per-project rules live (None: the repo's validation/),
    # which projects it judges (comma-separated shell patterns), and whether hooks may call
    # private or loopback addresses (off: a hook must not become a way into the network).
    validation_dir: Path | None = Field(None, validation_alias=_env("CAIRN_VALIDATION_DIR"))
    validator_projects: str = Field("*", validation_alias=_env("CAIRN_VALIDATOR_PROJECTS"))
    allow_private_hooks: bool = Field(False, validation_alias=_env("CAIRN_ALLOW_PRIVATE_HOOKS"))
    # The notifier: webhook targets on private or loopback addresses (refused by default, at
    # registration and at each delivery); the master key each subscription's signing secret is
    # derived from (HMAC-SHA256(key, subscription id), so no secret is stored anywhere; the
    # api and the notifier refuse to start without it); attempts per delivery before it is
    # dead-lettered,
    # the first retry's delay in seconds (doubling each time, up to the cap), each POST's timeout.
    allow_private_webhooks: bool = Field(
        False, validation_alias=_env("CAIRN_ALLOW_PRIVATE_WEBHOOKS"))
    # Exact origins (scheme://host:port, comma-separated) that webhooks may reach even on a
    # private or loopback address: one named receiver, never a general switch (scripts/stack
    # allows its own loopback receiver this way so a user can try a webhook).
    webhook_allow: str = Field("", validation_alias=_env("CAIRN_WEBHOOK_ALLOW"))
    webhook_key: SecretStr = Field(SecretStr(""), validation_alias=_env("CAIRN_WEBHOOK_KEY"))
    webhook_attempts: int = Field(5, ge=1, validation_alias=_env("CAIRN_WEBHOOK_ATTEMPTS"))
    webhook_backoff: float = Field(1.0, ge=0, validation_alias=_env("CAIRN_WEBHOOK_BACKOFF"))
    webhook_backoff_max: float = Field(
        60.0, ge=0, validation_alias=_env("CAIRN_WEBHOOK_BACKOFF_MAX"))
    webhook_timeout: float = Field(10.0, gt=0, validation_alias=_env("CAIRN_WEBHOOK_TIMEOUT"))
    # Webhook POSTs in flight at once across all targets (each target has at most one, to
    # keep its order), and deliveries held unfinished before the notifier stops reading the
    # changelog (a dead receiver's queue can grow only this far).
    webhook_concurrency: int = Field(
        32, ge=1, validation_alias=_env("CAIRN_WEBHOOK_CONCURRENCY"))
    webhook_backlog: int = Field(10_000, ge=1, validation_alias=_env("CAIRN_WEBHOOK_BACKLOG"))
    # The archiver: the archive tier's blob directory (default: `archive` beside the blob
    # directory) and the seconds between its scheduled retention runs (0: none; policies then
    # apply only through `cairn retention apply`).
    archive_dir: Path | None = Field(None, validation_alias=_env("CAIRN_ARCHIVE_DIR"))
    # With CAIRN_BLOB_URL, the archive tier's `s3://bucket/prefix` (default: the blob URL's
    # prefix + "-archive", in the same bucket); its trash is `<it>/trash`.
    archive_url: str | None = Field(None, pattern=r"^s3://[^/]+(/.*)?$",
                                    validation_alias=_env("CAIRN_ARCHIVE_URL"))
    # On S3, the storage class of the archive tier's and the trash's objects (STANDARD_IA,
    # GLACIER_IR, ...: one read at once, as a restore needs; not GLACIER or DEEP_ARCHIVE).
    cold_storage_class: ReadableClass | None = Field(
        None, validation_alias=_env("CAIRN_COLD_STORAGE_CLASS"))
    archiver_interval: float = Field(
        3600.0, ge=0, validation_alias=_env("CAIRN_ARCHIVER_INTERVAL"))
    # A deleted version's blobs wait this long in the archive's trash before they are removed,
    # so a publish that reused one just before the delete gets it back (archiver.tiers).
    blob_grace_seconds: float = Field(
        86400.0, ge=0, validation_alias=_env("CAIRN_BLOB_GRACE_SECONDS"))

    @model_validator(mode="after")
    def _no_public_secrets(self) -> Settings:
        """Refuse a secret published in Cairn's source, whatever the environment."""
        given = [("CAIRN_SIGNING_KEY", self.signing_key.get_secret_value()),
                 ("CAIRN_WEBHOOK_KEY", self.webhook_key.get_secret_value()),
                 ("CAIRN_ADMIN_TOKEN", self.admin_token.get_secret_value()),
                 *(("CAIRN_API_TOKENS", item.partition("=")[2])
                   for item in self.api_tokens.split(","))]
        for name, value in given:
            if value and is_public(value):
                raise ValueError(f"{name} is refused: it is a secret published in Cairn's "
                                 "source, so anyone could use it; set a random one (openssl "
                                 "rand -hex 32): scripts/stack and compose make one per "
                                 "install")
        return self

    @model_validator(mode="after")
    def _allow_list_of_origins(self) -> Settings:
        allowed_origins(self.webhook_allow)  # a malformed entry stops the start, saying which
        return self

    @property
    def webhook_allowed(self) -> frozenset[str]:
        """The exact origins webhooks may reach on non-public addresses (CAIRN_WEBHOOK_ALLOW)."""
        return allowed_origins(self.webhook_allow)

    @property
    def kind_list(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.kinds.split(",") if k.strip())
