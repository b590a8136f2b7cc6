"""Entra ID's discovery endpoints: OpenID configuration, signing keys, user realm, instance discovery."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from graphpost.sandbox.context import Sandbox, sandbox
from graphpost.sandbox.identity.blueprint import blueprint
from graphpost.sandbox.identity.errors import EntraError

MULTI_TENANT = ("common", "organizations")


def resolve_tenant(sb: Sandbox, segment: str) -> str:
    """The tenant id for a path segment (id, domain, common, organizations)."""
    lowered = segment.lower()
    if lowered in MULTI_TENANT:
        return lowered
    if lowered in (sb.tenant_id.lower(), sb.tenant_domain.lower()):
        return sb.tenant_id
    raise EntraError(
        "invalid_request",
        90002,
        f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are"
        " signing into the correct cloud.",
    )


def openid_configuration(sb: Sandbox, tenant: str) -> dict[str, Any]:
    base = f"{sb.base_url}/{tenant}"
    multi = tenant in MULTI_TENANT
    # For /common Entra publishes the issuer as a template; key order follows the real document
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{sb.base_url}/{{tenantid}}/v2.0" if multi else f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{sb.graph_url.rsplit('/', 1)[0]}/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": None if multi else "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def _discovery_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "max-age=86400, private"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
    return response


@blueprint.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration_endpoint(tenant: str) -> Response:
    sb = sandbox()
    return _discovery_headers(jsonify(openid_configuration(sb, resolve_tenant(sb, tenant))))


@blueprint.get("/<tenant>/discovery/v2.0/keys")
@blueprint.get("/<tenant>/discovery/keys")
def keys_endpoint(tenant: str) -> Response:
    sb = sandbox()
    resolve_tenant(sb, tenant)
    issuer = f"{sb.base_url}/{{tenantid}}/v2.0"
    return _discovery_headers(jsonify({"keys": [sb.signing_key.jwk(issuer)]}))


@blueprint.get("/common/userrealm/<path:username>")
def user_realm(username: str) -> Response:
    """Every sandbox account is a cloud-only ("Managed") account."""
    domain = username.rpartition("@")[2] or sandbox().tenant_domain
    return jsonify(
        {
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }
    )


@blueprint.get("/common/discovery/instance")
def instance_discovery() -> Response:
    """For clients that validate the authority: this host is its own (only) alias."""
    sb = sandbox()
    host = sb.base_url.split("://", 1)[1]
    endpoint = request.args.get("authorization_endpoint", "")
    tenant = endpoint.split(host, 1)[-1].strip("/").split("/", 1)[0] or "common"
    return jsonify(
        {
            "tenant_discovery_endpoint": f"{sb.base_url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": host, "preferred_cache": host, "aliases": [host]},
            ],
        }
    )
