"""SCIM discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas.

Generated from the scim2-models classes the service validates with, so what the
endpoints publish is exactly what they accept. ``meta.location`` is built per request
from the tenant's SCIM base URL.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Meta,
    Pagination,
    Patch,
    Resource,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

UserModel = User[EnterpriseUser]
GroupModel = Group

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # also filter.maxResults: the most resources one list response holds

_RESOURCE_MODELS: tuple[type[Resource[Any]], ...] = (UserModel, GroupModel)


def service_provider_config(base_url: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_PAGE_SIZE),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="The tenant's SCIM token: Authorization: Bearer wst_…",
                spec_uri="https://www.rfc-editor.org/rfc/rfc6750",
                primary=True,
            )
        ],
        pagination=Pagination(
            cursor=False,
            index=True,
            default_pagination_method=Pagination.DefaultPaginationMethod.index,
            default_page_size=DEFAULT_PAGE_SIZE,
            max_page_size=MAX_PAGE_SIZE,
        ),
        meta=Meta(
            resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"
        ),
    )
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base_url: str) -> list[dict[str, Any]]:
    out = []
    for model in _RESOURCE_MODELS:
        rt = ResourceType.from_resource(model)
        rt.meta = Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/{rt.id}")
        out.append(rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out


def schemas(base_url: str) -> list[dict[str, Any]]:
    out = []
    for schema in _all_schemas():
        schema.meta = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
        out.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return out


def _all_schemas() -> list[Schema]:
    return [User.to_schema(), EnterpriseUser.to_schema(), Group.to_schema()]
