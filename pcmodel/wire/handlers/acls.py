"""DescribeAcls, CreateAcls and DeleteAcls, as a Kafka broker without an authorizer answers them.

pcmodel has no access control: every client may do everything (see
:mod:`pcmodel.topics.authorization`). A Kafka broker configured without an authorizer (no
``authorizer.class.name``) still serves the three ACL APIs, to say so: each answers
SECURITY_DISABLED (54) with the message Kafka's ``AclApis`` sends, DescribeAcls once for the
request, CreateAcls once per ACL to create and DeleteAcls once per filter, and nothing is stored
(as pcmodel's own admin client answers: :mod:`pcmodel.topics.admin_acls`). So ``kafka-acls.sh``,
kafka-python's ``describe_acls`` / ``create_acls`` / ``delete_acls`` and confluent-kafka's admin
calls learn that security is disabled, as they would from such a broker, instead of that the API
is missing.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin.acl import (
    CreateAclsRequest,
    CreateAclsResponse,
    DeleteAclsRequest,
    DeleteAclsResponse,
    DescribeAclsRequest,
    DescribeAclsResponse,
)

from pcmodel.topics.authorization import NO_AUTHORIZER, NO_AUTHORIZER_TO_CHANGE
from pcmodel.topics.errors import SecurityDisabledError
from pcmodel.wire.api import ApiHandler, RequestContext

__all__ = ["HANDLERS"]

SECURITY_DISABLED = SecurityDisabledError.errno


def handle_describe_acls(ctx: RequestContext, request: Any) -> Any:
    """SECURITY_DISABLED, and no ACLs."""
    return ctx.response(throttle_time_ms=0, error_code=SECURITY_DISABLED,
                        error_message=NO_AUTHORIZER, resources=[])


def handle_create_acls(ctx: RequestContext, request: Any) -> Any:
    """SECURITY_DISABLED for each ACL to create; none is stored."""
    result = CreateAclsResponse.AclCreationResult
    return ctx.response(throttle_time_ms=0, results=[
        result(error_code=SECURITY_DISABLED, error_message=NO_AUTHORIZER_TO_CHANGE)
        for _ in request.creations])


def handle_delete_acls(ctx: RequestContext, request: Any) -> Any:
    """SECURITY_DISABLED for each filter, matching nothing."""
    result = DeleteAclsResponse.DeleteAclsFilterResult
    return ctx.response(throttle_time_ms=0, filter_results=[
        result(error_code=SECURITY_DISABLED, error_message=NO_AUTHORIZER_TO_CHANGE,
               matching_acls=[])
        for _ in request.filters])


HANDLERS = {
    DescribeAclsRequest.API_KEY: ApiHandler(
        DescribeAclsRequest, DescribeAclsResponse, 0, 3, handle_describe_acls),
    CreateAclsRequest.API_KEY: ApiHandler(
        CreateAclsRequest, CreateAclsResponse, 0, 3, handle_create_acls),
    DeleteAclsRequest.API_KEY: ApiHandler(
        DeleteAclsRequest, DeleteAclsResponse, 0, 3, handle_delete_acls),
}
