"""DescribeConfigs, AlterConfigs, IncrementalAlterConfigs: a topic's, a group's and a broker's
configs.

Each resource of a request succeeds or fails on its own. The resource types served:

- TOPIC (2): a topic's configs are described and altered as
  :mod:`pcmodel.topics.topic_configs` says (an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, a
  bad value INVALID_CONFIG, a config named twice or an operation a config does not take
  INVALID_REQUEST).
- BROKER (4): names this broker's id (or ``""``, the cluster-wide dynamic defaults, of which
  there are none); its configs are the settings it was started with, described as read-only
  static configs and refused to an alteration with INVALID_REQUEST (an alteration that changes
  nothing, with no configs, succeeds, as on Kafka).
- GROUP (32), Kafka 4's group configs: names a group id, of a group that exists or not, and
  its configs are ``consumer.session.timeout.ms`` and ``consumer.heartbeat.interval.ms`` (and
  the share groups' ones Kafka lists, kept but unused), described and altered as
  :mod:`pcmodel.topics.group_configs` says (a bad value or name INVALID_CONFIG, the group id
  ``""`` INVALID_REQUEST).

BROKER_LOGGER (8) and CLIENT_METRICS (16) are INVALID_REQUEST, and a type Kafka does not have
is "Unknown resource type N".

AlterConfigs and IncrementalAlterConfigs first check the request as Kafka's
``ConfigAdminManager.preprocess`` does, each refusal INVALID_REQUEST with Kafka's message: a
resource (type and name) given twice is refused in every entry that names it ("Each resource
must appear at most once.") and none of them is applied, since which one should win is
unclear; then, in each resource, a config named twice, a value missing where the operation is
not DELETE (every AlterConfigs value). A broker id that is not this broker's is refused with
Kafka's words for each API.

DescribeConfigs answers the configs a resource's ``configuration_keys`` names, and all of them
when the list is null *or empty*, as Kafka's ``ConfigHelper`` reads it (a client that sends an
empty list asks for no filter); a topic whose name no topic may have is
INVALID_TOPIC_EXCEPTION, checked before the topic is looked up.

Prior art: Kafka's ``ConfigAdminManager`` and ``ConfigHelper`` (the broker id check, the
synonyms, the documentation only when asked).
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import (
    AlterConfigsRequest,
    AlterConfigsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

from pcmodel.topics.broker_static_configs import BROKER_CONFIGS_READ_ONLY
from pcmodel.topics.config_resources import (
    GIVEN_TWICE,
    AlterConfigOp,
    ConfigEntry,
    ConfigResourceType,
    repeated_resources,
)
from pcmodel.topics.errors import InvalidRequestError
from pcmodel.topics.topic_settings import check_topic_name
from pcmodel.wire.api import ApiHandler, RequestContext, error_code, error_message

__all__ = ["HANDLERS"]

_Result = DescribeConfigsResponse.DescribeConfigsResult
_Entry = _Result.DescribeConfigsResourceResult
_Synonym = _Entry.DescribeConfigsSynonym


def _check_broker(ctx: RequestContext, name: str, *, altered: bool = False) -> None:
    """A broker resource names this broker, or ``""`` (the cluster-wide defaults); refused
    with the message Kafka's ``ConfigHelper`` (described) or ``ConfigAdminManager``
    (``altered``) gives."""
    if name == "":
        return
    try:
        node_id = int(name)
    except ValueError:
        raise InvalidRequestError(f"{'Node' if altered else 'Broker'} id must be an integer, "
                                  f"but it is: {name}") from None
    if node_id != ctx.node_id:
        expected = f"{ctx.node_id}" if altered else f"{ctx.node_id} or empty string"
        raise InvalidRequestError(
            f"Unexpected broker id, expected {expected}, but received {name}")


#: The config resource types Kafka has (BROKER_LOGGER and CLIENT_METRICS are not served
#: here); any other is an unknown one.
_KAFKA_RESOURCE_TYPES = {2, 4, 8, 16, 32}


def _unsupported(kind: int) -> InvalidRequestError:
    if kind not in _KAFKA_RESOURCE_TYPES:
        return InvalidRequestError(f"Unknown resource type {kind}")
    return InvalidRequestError(f"config resource type {kind} is not served by this broker; "
                               "TOPIC (2), BROKER (4) and GROUP (32) are")


def _check_alteration(resource: Any, incremental: bool) -> None:
    """What Kafka's ``ConfigAdminManager.preprocess`` refuses before it looks at the resource
    itself, in its order: a config named twice, a value missing (where the operation is not
    DELETE). Both INVALID_REQUEST."""
    names = [config.name for config in resource.configs]
    if len(set(names)) < len(names):
        raise InvalidRequestError("Error due to duplicate config keys")
    unset = [config.name for config in resource.configs if config.value is None
             and not (incremental and config.config_operation == AlterConfigOp.DELETE)]
    if unset:
        raise InvalidRequestError(f"Null value not supported for : {', '.join(unset)}")


def _entries(ctx: RequestContext, kind: int, name: str) -> list[ConfigEntry]:
    if kind == ConfigResourceType.TOPIC:
        check_topic_name(name)
        return ctx.broker.describe_topic_configs(name)
    if kind == ConfigResourceType.BROKER:
        _check_broker(ctx, name)
        # No cluster-wide default is ever set: "" has no configs.
        return ctx.broker.describe_broker_configs(ctx.node_id) if name else []
    if kind == ConfigResourceType.GROUP:
        return ctx.broker.describe_group_configs(name)
    raise _unsupported(kind)


def _entry(entry: ConfigEntry, synonyms: bool, documentation: bool) -> Any:
    return _Entry(
        name=entry.name, value=entry.value, read_only=entry.read_only,
        config_source=int(entry.source), is_default=not entry.source.is_modified,
        is_sensitive=entry.sensitive,
        synonyms=[_Synonym(name=s.name, value=s.value, source=int(s.source))
                  for s in entry.synonyms] if synonyms else [],
        config_type=int(entry.config_type),
        documentation=entry.documentation if documentation else None,
    )


def handle_describe_configs(ctx: RequestContext, request: Any) -> Any:
    """Every asked config of each resource (all of them when the keys are null or none)."""
    synonyms = bool(request.include_synonyms)
    documentation = ctx.api_version >= 3 and bool(request.include_documentation)
    results = []
    for resource in request.resources:
        keys = set(resource.configuration_keys or ())
        try:
            entries = [_entry(e, synonyms, documentation)
                       for e in _entries(ctx, resource.resource_type, resource.resource_name)
                       if not keys or e.name in keys]
        except Exception as exc:
            code, message, entries = error_code(exc), error_message(exc), []
        else:
            code, message = 0, None
        results.append(_Result(error_code=code, error_message=message,
                               resource_type=resource.resource_type,
                               resource_name=resource.resource_name, configs=entries))
    return ctx.response(throttle_time_ms=0, results=results)


def _alter(ctx: RequestContext, request: Any, incremental: bool) -> Any:
    results = []
    # Kafka's ``preprocess`` compares the raw type and name, so "0" and "" differ.
    repeated = repeated_resources((r.resource_type, r.resource_name) for r in request.resources)
    for resource in request.resources:
        kind, name = resource.resource_type, resource.resource_name
        try:
            if (kind, name) in repeated:
                raise InvalidRequestError(GIVEN_TWICE)
            _check_alteration(resource, incremental)
            operations = [(c.name, c.config_operation if incremental else AlterConfigOp.SET,
                           c.value) for c in resource.configs]
            if kind == ConfigResourceType.TOPIC:
                ctx.broker.alter_topic_configs(name, operations, incremental=incremental,
                                               validate_only=bool(request.validate_only))
            elif kind == ConfigResourceType.GROUP:
                ctx.broker.alter_group_configs(name, operations, incremental=incremental,
                                               validate_only=bool(request.validate_only))
            elif kind == ConfigResourceType.BROKER:
                _check_broker(ctx, name, altered=True)
                if resource.configs:  # nothing asked, nothing refused: as Kafka answers
                    raise InvalidRequestError(BROKER_CONFIGS_READ_ONLY)
            else:
                raise _unsupported(kind)
        except Exception as exc:
            code, message = error_code(exc), error_message(exc)
        else:
            code, message = 0, None
        results.append(ctx.response_class.AlterConfigsResourceResponse(
            error_code=code, error_message=message, resource_type=kind, resource_name=name))
    return ctx.response(throttle_time_ms=0, responses=results)


def handle_alter_configs(ctx: RequestContext, request: Any) -> Any:
    """Replace each resource's overrides with the ones given (Kafka's AlterConfigs)."""
    return _alter(ctx, request, incremental=False)


def handle_incremental_alter_configs(ctx: RequestContext, request: Any) -> Any:
    """Apply SET / DELETE / APPEND / SUBTRACT to each resource's overrides."""
    return _alter(ctx, request, incremental=True)


HANDLERS = {
    DescribeConfigsRequest.API_KEY: ApiHandler(
        DescribeConfigsRequest, DescribeConfigsResponse, 1, 4, handle_describe_configs),
    AlterConfigsRequest.API_KEY: ApiHandler(
        AlterConfigsRequest, AlterConfigsResponse, 0, 2, handle_alter_configs),
    IncrementalAlterConfigsRequest.API_KEY: ApiHandler(
        IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, 0, 1,
        handle_incremental_alter_configs),
}
