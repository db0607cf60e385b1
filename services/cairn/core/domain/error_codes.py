"""Every stable error code (`reason`) Cairn gives, with its HTTP status and what it means.

Clients branch on these codes (the api's `{"error": {"reason", ...}}`, a refused event's
`reason` in GET /v1/events/{id} and the dead-letter headers, the SDK's `CairnError.reason`,
the CLI's `[reason]`), so they are listed once, here: the api takes an InvalidInput's status
from this table (cairn.api.errors), its OpenAPI spec publishes it (`x-error-codes`), the
README's "Error codes" table is generated from it (scripts/error_codes.py), and
tests/unit/test_error_codes.py fails when code raises a reason missing here.

Pure data: importable from every service without crossing a boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Where(StrEnum):
    """Where a client meets the code."""

    API = "api"  # an api answer with `status`; the ledger may also refuse an event with it
    PIPELINE = "pipeline"  # only a refused event: rejected_events, GET /v1/events/{id}, DLQ
    CLIENT = "client"  # only the SDK or CLI, before or after talking to the api


@dataclass(frozen=True)
class ErrorCode:
    status: int | None  # the api's HTTP status; None: the api never answers with this code
    meaning: str
    where: Where = Where.API
    answered_as: str | None = None  # the code the api puts on the wire instead, if any


def _api(status: int, meaning: str, answered_as: str | None = None) -> ErrorCode:
    return ErrorCode(status, meaning, Where.API, answered_as)


def _bad(meaning: str) -> ErrorCode:
    return ErrorCode(400, meaning)


def _pipeline(meaning: str) -> ErrorCode:
    return ErrorCode(None, meaning, Where.PIPELINE)


def _client(meaning: str) -> ErrorCode:
    return ErrorCode(None, meaning, Where.CLIENT)


CODES: Mapping[str, ErrorCode] = MappingProxyType({
    # 400: the request or event itself is wrong; the message says what to fix.
    "invalid_characters": _bad("a path, query value or JSON string holds NUL, a control "
                               "character or invalid UTF-8; `parameter` names it"),
    "value_too_long": _bad("a path segment or query value is over 1,024 characters"),
    "missing_blobs": _bad("a publish lists files whose blobs were never uploaded: `missing`"),
    "invalid_name": _bad("a name is not 1-128 of a-z, 0-9, '.', '_', '-'"),
    "invalid_project": _bad("a project name or project item is malformed"),
    "invalid_owner": _bad("an owner name is malformed"),
    "invalid_account": _bad("a service account name is malformed"),
    "invalid_member": _bad("a member name is malformed"),
    "invalid_team": _bad("a team name or team item is malformed"),
    "invalid_user": _bad("a user name or user item is malformed"),
    "invalid_service_account": _bad("a service account name or item is malformed"),
    "invalid_token": _bad("a token item is malformed (hash, owner, owner_kind, expiry)"),
    "invalid_denial": _bad("a denial audit item is malformed"),
    "invalid_role": _bad("a role is not one of the known roles"),
    "invalid_scope": _bad("token scopes are not a non-empty list of known scopes"),
    "invalid_visibility": _bad("visibility is not public or private"),
    "invalid_lifecycle": _bad("a project's lifecycle (stages, gates, protected aliases, "
                              "hold role) is malformed"),
    "invalid_alias": _bad("an alias name is malformed or looks like a version number"),
    "invalid_stage": _bad("a stage name is malformed"),
    "invalid_artifact": _bad("an artifact is not project/name"),
    "invalid_ref": _bad("a reference is not project/name@vN, @<digest> or :alias"),
    "invalid_selector": _bad("a version selector is not vN, 7+ hex digits or an alias"),
    "invalid_version_number": _bad("a requested version number is not a whole number >= 1"),
    "invalid_kind": _bad("an artifact kind is not one of the allowed kinds"),
    "invalid_sha256": _bad("a digest is not 64 lowercase hex digits"),
    "invalid_size": _bad("a file size is negative"),
    "invalid_path": _bad("a file path is empty, not POSIX or not UTF-8"),
    "absolute_path": _bad("a file path is absolute (also the SDK, for a path outside the root)"),
    "path_traversal": _bad("a file path has '..', '.' or empty parts"),
    "path_too_long": _bad("a file path is over 4,096 bytes of UTF-8"),
    "path_component_too_long": _bad("a file or directory name is over 255 bytes of UTF-8"),
    "duplicate_path": _bad("the same file path is listed or uploaded twice"),
    "no_files": _bad("a version needs at least one file (also the SDK: an empty directory)"),
    "too_many_files": _bad("a publish lists more files than CAIRN_MAX_FILES"),
    "digest_mismatch": _bad("uploaded bytes do not hash to the declared sha256"),
    "size_mismatch": _bad("a file's size differs from its upload or stored blob"),
    "missing_creator": _bad("metadata.creator is missing"),
    "unknown_field": _bad("a publish has fields the api does not know"),
    "invalid_json": _bad("a field that must be a JSON object is not, or is not JSON"),
    "invalid_payload": _bad("a request does not fit the event's Avro schema"),
    "invalid_openlineage": _bad("an OpenLineage event that the spec's JSON schema refuses; "
                                "the message names the field as a JSON path"),
    "invalid_link": _bad("a lineage link is malformed"),
    "invalid_relation": _bad("a lineage link's relation is not a known relation"),
    "invalid_external": _bad("an external source's kind or URL is malformed"),
    "invalid_edit": _bad("a metadata edit's field has the wrong type"),
    "empty_edit": _bad("a metadata edit changes nothing (also the CLI, before asking)"),
    "not_editable": _bad("a metadata edit names a field that cannot be edited"),
    "invalid_action": _bad("a lifecycle or usage action is not a known one"),
    "invalid_retrieve_ms": _bad("a usage report's retrieve_ms is out of range"),
    "invalid_verdict": _bad("a verdict's status is not passed, failed or warning"),
    "invalid_score": _bad("an evaluation score is not between 0 and 1"),
    "invalid_event_id": _bad("an event id is not a UUID"),
    "invalid_multipart": _bad("a multipart body is malformed (no boundary, cut short, bad "
                              "headers)"),
    "missing_manifest": _bad("a multipart publish has no 'manifest' part"),
    "missing_file": _bad("a manifest lists a file that was neither uploaded nor sized"),
    "unexpected_part": _bad("a multipart part is neither the manifest nor a file"),
    "invalid_config_key": _bad("a config item's key is malformed"),
    "unknown_config_kind": _bad("a config item's kind is not a known one"),
    "invalid_retention_policy": _bad("a retention policy is malformed"),
    "invalid_toml": _bad("a retention policy file is not TOML"),
    "invalid_subscription": _bad("a subscription is malformed"),
    "invalid_filter": _bad("a subscription's filter is malformed"),
    "invalid_url": _bad("a webhook URL is not http(s) with a host"),
    "private_target": _bad("a webhook URL resolves to a private, loopback or link-local "
                           "address"),
    "unresolvable_target": _bad("a webhook URL's host does not resolve"),
    "invalid_cursor": _bad("a page cursor is not one the api gave out"),
    "invalid_format": _bad("a picture or subscription format is not a supported one"),
    "invalid_direction": _bad("a lineage direction is not a known one"),
    "invalid_depth": _bad("a lineage depth is not a whole number in range"),
    "missing_ref": _bad("a lineage request names no ref"),
    "missing_metric": _bad("a metric plot names no metric"),
    "unknown_metric": _bad("no version compared recorded the metric"),
    "too_many_metrics": _bad("a metric plot names too many metrics"),
    "too_many_compared": _bad("a metric plot compares too many artifacts"),
    "invalid_query": _bad("a search text is too long"),
    "invalid_date": _bad("a search date is not ISO 8601"),
    "invalid_sort": _bad("a search sort is not relevance, created, usage or metric.NAME"),
    "invalid_metric_filter": _bad("a search metric filter is not name<op>number"),
    "invalid_page": _bad("a search page, size or facet size is out of range"),
    "invalid_field": _bad("a suggest field is not name, tag or metric"),
    "invalid_prefix": _bad("a suggest prefix is empty or too long"),
    "search_refused": _bad("the search engine refused the query"),
    "reserved_alias": _bad("'latest' cannot be set or moved by hand"),
    "reserved_name": _bad("a name starts with Cairn's own services' prefix"),
    "owner_needed": _bad("a bootstrap token creating a token must name its owner"),
    "ambiguous_digest": _bad("a digest prefix matches several versions"),
    "unknown_version": _bad("no such version of the artifact (reads answer 404 not_found)"),
    "invalid_environment": _bad("an environment digest (GET /v1/environments/{digest}, search's "
                                "environment=) is not 64 lowercase hex digits"),
    # 401, 403, 404, 405, 409
    "unauthenticated": _api(401, "no token, or an unknown, expired or revoked one (also the "
                                 "SDK, for a write without a token)"),
    "forbidden": _api(403, "the caller lacks the permission `permission` names"),
    "insufficient_scope": _api(403, "the token's scopes do not include the permission"),
    "not_found": _api(404, "no such thing, or one the caller may not see: both alike"),
    "hidden": _api(404, "a project the caller may not see (only in the denial audit)",
                   answered_as="not_found"),
    "absent": _api(404, "a project that does not exist (only in the denial audit)",
                   answered_as="not_found"),
    "unknown_edit": _api(404, "a version has no such edit to revert"),
    "environment_not_found": _api(404, "no environment has that digest, or only versions the "
                                       "caller may not see use it: both alike"),
    "method_not_allowed": _api(405, "the path does not take this method"),
    "name_taken": _api(409, "users and service accounts share one namespace; the name is the "
                            "other's"),
    "upload_incomplete": _api(409, "a direct multipart upload was completed before the store "
                                   "had all its parts: send the rest (resume), complete again"),
    # 413, 422
    "invalid_request": _api(422, "the request does not fit the operation's parameters or body"),
    "too_large": _api(413, "the body, a blob or the event is over its limit"),
    "blob_too_large": _api(413, "a blob is over CAIRN_MAX_BLOB_BYTES", answered_as="too_large"),
    "event_too_large": _api(413, "an event is over CAIRN_MAX_EVENT_BYTES",
                            answered_as="too_large"),
    "unknown_stage": _api(422, "the stage is not on the project's ladder"),
    "gate_needs_promotion": _api(422, "a publish into a gated stage: publish, then promote"),
    # 500, 501, 503
    "internal": _api(500, "a bug; the api log has the details"),
    "graphviz_failed": _api(501, "Graphviz could not draw this format: ask for .svg or .dot"),
    "direct_transfer_unavailable": _api(501, "the api's blob store is a local directory: "
                                             "upload with PUT /v1/blobs/{sha256}"),
    "not_ready": _api(503, "a dependency of the api is not ready (GET /readyz)"),
    "unavailable": _api(503, "PostgreSQL or Kafka did not answer; retry the same request"),
    "search_unavailable": _api(503, "the search engine did not answer; retry (also cairn "
                                    "reindex)"),
    "index_missing": _api(503, "the search index does not exist yet: start the indexer or run "
                               "cairn reindex"),
    "graphviz_missing": _api(503, "the api's host has no Graphviz; the .dot form still works"),
    "graphviz_timeout": _api(503, "the graph took too long to draw: a smaller depth"),
    "no_signing_key": _api(503, "CAIRN_SIGNING_KEY is not set on the api"),
    "blob_store_unreachable": _api(503, "the blob store (S3) did not answer; retry"),
    "blob_store_denied": _api(503, "the blob store (S3) refused the api's credentials"),
    "blob_store_no_bucket": _api(503, "the blob store's bucket (CAIRN_BLOB_URL) does not "
                                      "exist"),
    "blob_store_full": _api(507, "the api's blob directory has no space left; retry the same "
                                 "upload once space is freed"),
    # Only a refused event (the ledger's rejected_events, GET /v1/events/{id}, dead letters).
    "undecodable": _pipeline("a record is not Avro the registry knows"),
    "malformed": _pipeline("a record decodes but is not the event it claims to be"),
    "unprocessable": _pipeline("the ledger could not apply the event (a database error)"),
    "invalid_config": _pipeline("a config change the ledger cannot apply"),
    "invalid_delivery": _pipeline("a webhook delivery report makes no sense"),
    "unsigned": _pipeline("an event carries no producer signature"),
    "bad_signature": _pipeline("an event's signature does not match it"),
    "unknown_producer": _pipeline("an event's producer is no enabled service account"),
    "forged_actor": _pipeline("a producer wrote an event as someone else"),
    "not_internal": _pipeline("only Cairn's own services produce to this topic"),
    "key_mismatch": _pipeline("an event's Kafka key differs from its payload's artifact"),
    "kind_mismatch": _pipeline("a publish's kind differs from the artifact's"),
    "version_number_taken": _pipeline("an import asked for a version number that another "
                                      "digest of the artifact holds"),
    "unknown_artifact": _pipeline("the event names an artifact that does not exist"),
    "unknown_alias": _pipeline("the artifact has no such alias"),
    "stage_order": _pipeline("a promotion skips a stage of the ladder"),
    "promotion_refused": _pipeline("a promotion lacks what the stage's gate asks"),
    "protected": _pipeline("an archive or delete of a protected version (alias, stage, hold)"),
    "read_only_version": _pipeline("the version is past its project's read-only age"),
    "already_archived": _pipeline("the version is archived already"),
    "not_archived": _pipeline("a restore of a version that is not archived"),
    "version_archived": _pipeline("the version is archived: restore it first (also the SDK, "
                                  "on pull)"),
    "version_deleted": _pipeline("the version is deleted: only its tombstone remains (also "
                                 "the SDK, on pull)"),
    # Only the SDK or the CLI.
    "network_error": _client("the connection to the api failed"),
    "rejected": _client("the ledger refused the event without a reason"),
    "not_recorded": _client("an accepted event was not recorded in time: is the ledger "
                            "running?"),
    "kafka_unreachable": _client("Kafka did not acknowledge a publish sent with transport "
                                 "kafka"),
    "registry_unreachable": _client("the schema registry did not answer"),
    "invalid_transport": _client("a transport is not http or kafka"),
    "invalid_configuration": _client("a setting or the credentials file is malformed"),
    "file_not_found": _client("a path to publish does not exist"),
    "not_a_file": _client("a path to publish is not a regular file or directory"),
    "unreadable": _client("a file to publish cannot be read"),
    "symlink_escape": _client("a symlink points outside the directory published"),
    "symlink_loop": _client("a symlink leads back into a directory already walked"),
    "file_changed": _client("a file changed between hashing and upload"),
    "corrupt_download": _client("downloaded bytes do not match the manifest"),
    "store_unreachable": _client("a presigned blob store URL did not answer (direct transfer)"),
    "store_refused": _client("the blob store refused a presigned upload or download"),
    "path_escape": _client("a pulled file would land outside the destination"),
    "not_a_crate": _client("cairn import: no ro-crate-metadata.json, or not RO-Crate JSON-LD"),
    "unsafe_member": _client("cairn import: an archive member with '..', an absolute path, "
                             "a symlink or a link"),
    "too_many_members": _client("cairn import: the archive has more members than allowed"),
    "crate_too_large": _client("cairn import: the archive unpacks to more bytes than allowed"),
    "crate_digest_mismatch": _client("cairn import: a file's sha256 is not the crate's"),
    "mlflow_unreachable": _client("cairn import-mlflow: the MLflow tracking server did not "
                                  "answer"),
    "mlflow_auth_required": _client("cairn import-mlflow: the MLflow server answered 401/403: "
                                    "set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/"
                                    "PASSWORD"),
    "mlflow_refused": _client("cairn import-mlflow: the MLflow server refused a request, or a "
                              "version's files are missing or incomplete"),
    "mlflow_artifacts_unreachable": _client("cairn import-mlflow: a version's files are where "
                                            "the server does not serve them (run it with "
                                            "--serve-artifacts)"),
    "invalid_mlflow_dataset": _client("cairn import-mlflow: a run's dataset input has neither "
                                      "a name nor a digest"),
    "unreadable_policy": _client("a retention policy file cannot be read"),
    "invalid_option": _client("a CLI option is malformed"),
    "invalid_output": _client("a picture's output file has an unsupported extension"),
    "missing_output": _client("a picture command needs --output or --json"),
    "missing_token": _client("cairn login needs a token"),
    "not_confirmed": _client("cairn delete needs --yes"),
    "interrupted": _client("stopped by the user"),
    "os_error": _client("the file system refused (the message names the file)"),
})

# Codes made of a fixed prefix and a variable part.
FAMILIES: Mapping[str, ErrorCode] = MappingProxyType({
    "http_": ErrorCode(None, "http_<status>: an HTTP failure with no code of its own (the "
                       "api: an unmapped framework error; the SDK: a reply without Cairn's "
                       "error body)"),
})


def known(reason: str) -> bool:
    return reason in CODES or any(reason.startswith(prefix) for prefix in FAMILIES)


def answer(reason: str) -> tuple[int, str]:
    """The status and wire code the api answers a refused input (InvalidInput) with: the
    table's, else 400 and the code itself (a code the api never answers is still a 400)."""
    code = CODES.get(reason)
    if code is None or code.status is None:
        return 400, reason
    return code.status, code.answered_as or reason
