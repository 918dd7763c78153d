"""The handlers of the Kafka protocol listener, one module per API family, and their registry.

Each module listed in :data:`MODULES` defines ``HANDLERS: dict[int, ApiHandler]``, mapping a
Kafka API key to an :class:`~pcmodel.wire.api.ApiHandler`: the kafka-python request and
response classes, the versions served, and the function ``handle(ctx, request) -> response``.
:func:`load_handlers` merges them; ApiVersions advertises exactly what the merged registry
holds, so a handler added here is announced to clients with no other change.

To add a handler module (for example ``groups.py`` with JoinGroup, SyncGroup, ...):

1. Write ``pcmodel/wire/handlers/<family>.py``. For each API, a function
   ``handle_<api>(ctx, request)`` that reads the decoded ``request`` (kafka-python's field names,
   snake case), calls the :class:`~pcmodel.topics.broker.Broker` (``ctx.broker``) and returns
   ``ctx.response(field=value, ...)`` (nested items are built with the response class's nested
   classes, e.g. ``JoinGroupResponse.JoinGroupResponseMember(...)``). Map broker exceptions to
   Kafka error codes with :func:`pcmodel.wire.api.error_code` (pcmodel's broker errors carry
   Kafka's code in ``errno``); an exception that escapes the handler is logged with its
   traceback and answered as Kafka answers it (:mod:`pcmodel.wire.error_responses`, Kafka's
   ``getErrorResponse``): its code (UNKNOWN_SERVER_ERROR for a bug) in every item the request
   named and in the top-level ``error_code`` where the version has one. A new API needs its
   builder there too.
2. End the module with::

       HANDLERS = {
           JoinGroupRequest.API_KEY: ApiHandler(JoinGroupRequest, JoinGroupResponse, 0, 9,
                                                handle_join_group),
       }

   The version range must be one the function serves completely, newer fields included:
   clients pick the highest version both sides support, and ApiVersions promises it.
3. Add the module's name to :data:`MODULES` below. Two modules claiming one API key is an
   error at load time.
4. Test it with real clients in ``tests/interop/`` (kafka-python and confluent-kafka) and with
   bad input in ``tests/wire/``.

A handler may block (Fetch long-polls, JoinGroup waits for the group): each connection has its
own thread and Kafka serves one connection's requests in order anyway. ``ctx.connection_state``
is a dict private to the connection, for state a handler keeps between requests.
"""

from __future__ import annotations

import importlib

from pcmodel.wire.api import ApiHandler

__all__ = ["MODULES", "load_handlers"]

#: The handler modules, by name inside this package.
MODULES: tuple[str, ...] = (
    "versions",
    "metadata",
    "topics",
    "replicas",
    "log_dirs",
    "produce",
    "transactions",
    "fetch",
    "offsets",
    "epochs",
    "groups",
    "consumer_groups",
    "group_offsets",
    "configs",
    "acls",
)


def load_handlers(modules: tuple[str, ...] = MODULES) -> dict[int, ApiHandler]:
    """Merge the ``HANDLERS`` of ``modules``; raise ``ValueError`` if two serve one API key."""
    merged: dict[int, ApiHandler] = {}
    owner: dict[int, str] = {}
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        for api_key, handler in module.HANDLERS.items():
            if api_key != handler.api_key:
                raise ValueError(f"{name}: key {api_key} maps to {handler.name}")
            if api_key in merged:
                raise ValueError(
                    f"API key {api_key} ({handler.name}) is served by both {owner[api_key]} "
                    f"and {name}"
                )
            merged[api_key] = handler
            owner[api_key] = name
    return dict(sorted(merged.items()))
