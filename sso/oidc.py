"""Talking to a company's identity provider with OpenID Connect (Authlib for the OAuth 2.0
client and the ID token's claims, joserfc for its signature).

Discovery (``/.well-known/openid-configuration``), the authorization request (Authorization
Code with PKCE S256, ``state`` and ``nonce``), the token exchange and the ID token's checks:
signature against the provider's JWKS, ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat``,
``nonce`` and ``at_hash``. The portal fetches these URLs itself, so each is checked first:
HTTPS to a public address only, unless ``SSO_ALLOW_LOCAL_ISSUER`` (development and tests);
redirects are never followed. The client secret is never logged or put in an error.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from django.conf import settings
from joserfc import jwt
from joserfc.errors import ClaimError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

TIMEOUT_SECONDS = 10
SCOPE = "openid email profile"
# Asymmetric signatures only: a provider's key set proves the token, not a secret we share.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
CLOCK_LEEWAY_SECONDS = 60


class OidcError(Exception):
    """The provider could not be used or answered something we refuse. ``reason`` is a short
    code for the audit trail and the page (never a secret, never the provider's raw body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]
    signing_algorithms: tuple[str, ...]

    @property
    def token_auth_method(self) -> str:
        # RFC 8414: client_secret_basic when the provider says nothing.
        methods = self.token_auth_methods or ("client_secret_basic",)
        return "client_secret_basic" if "client_secret_basic" in methods else methods[0]


def check_fetchable(url: str) -> None:
    """Refuse a URL the portal must not fetch: not HTTPS, or an address that is not public
    (loopback, private, link-local...), unless ``SSO_ALLOW_LOCAL_ISSUER``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OidcError("bad_url") from exc
    allow_local = bool(settings.SSO_ALLOW_LOCAL_ISSUER)
    if not parts.hostname or parts.username or parts.password:
        raise OidcError("bad_url")
    if parts.scheme != "https" and not (allow_local and parts.scheme == "http"):
        raise OidcError("not_https")
    if allow_local:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OidcError("unresolvable") from exc
    for info in infos:
        if not ipaddress.ip_address(info[4][0]).is_global:
            raise OidcError("not_public")


def _get_json(url: str) -> dict[str, Any]:
    check_fetchable(url)
    try:
        response = requests.get(
            url,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise OidcError("unreachable") from exc
    if response.status_code != 200:
        raise OidcError(f"http_{response.status_code}")
    try:
        data = response.json()
    except ValueError as exc:
        raise OidcError("not_json") from exc
    if not isinstance(data, dict):
        raise OidcError("not_json")
    return data


def discover(issuer: str) -> Provider:
    """The provider's endpoints, from its discovery document, whose ``issuer`` must be exactly
    the configured one (OpenID Connect Discovery 1.0, section 4.3)."""
    data = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if data.get("issuer") != issuer:
        raise OidcError("issuer_mismatch")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise OidcError(f"missing_{name}")
        check_fetchable(value)
        endpoints[name] = value
    return Provider(
        issuer=issuer,
        token_auth_methods=tuple(data.get("token_endpoint_auth_methods_supported") or ()),
        signing_algorithms=tuple(data.get("id_token_signing_alg_values_supported") or ()),
        **endpoints,
    )


def _client(provider: Provider, client_id: str, client_secret: str, redirect_uri: str) -> Any:
    return OAuth2Session(
        client_id=client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=provider.token_auth_method,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def authorization_url(
    provider: Provider,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_verifier: str,
    login_hint: str = "",
) -> str:
    """Where to send the browser: an Authorization Code request with PKCE (S256)."""
    extra = {"login_hint": login_hint} if login_hint else {}
    client = _client(provider, client_id, "", redirect_uri)
    url, _state = client.create_authorization_url(
        provider.authorization_endpoint,
        state=state,
        code_verifier=code_verifier,
        nonce=nonce,
        **extra,
    )
    return str(url)


def exchange_code(
    provider: Provider,
    *,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    code_verifier: str,
) -> dict[str, Any]:
    """The token endpoint's answer for this code (with the PKCE verifier)."""
    check_fetchable(provider.token_endpoint)
    client = _client(provider, client_id, client_secret, redirect_uri)
    try:
        token = client.fetch_token(
            provider.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except OAuthError as exc:
        raise OidcError(f"token_{exc.error or 'error'}"[:60]) from exc
    except (requests.RequestException, ValueError) as exc:
        raise OidcError("token_unreachable") from exc
    finally:
        client.close()
    if not isinstance(token, dict) or not isinstance(token.get("id_token"), str):
        raise OidcError("no_id_token")
    return dict(token)


def verify_id_token(
    provider: Provider, *, id_token: str, client_id: str, nonce: str, access_token: str = ""
) -> dict[str, Any]:
    """The ID token's claims, once its signature (the provider's JWKS) and its claims (issuer,
    audience, authorized party, expiry, issue time, nonce, access token hash) are right."""
    try:
        key_set = KeySet.import_key_set(_get_json(provider.jwks_uri))  # type: ignore[arg-type]
    except JoseError as exc:
        raise OidcError("bad_jwks") from exc
    algorithms = [a for a in provider.signing_algorithms if a in SIGNING_ALGORITHMS]
    try:
        token = jwt.decode(
            id_token,
            key_set,
            registry=JWSRegistry(algorithms=algorithms or ["RS256"], strict_check_header=False),
        )
    except JoseError as exc:
        raise OidcError("bad_signature") from exc
    params = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": provider.issuer},
            "aud": {"essential": True, "value": client_id},
            "exp": {"essential": True},
            "nonce": {"essential": True},
        },
        params,
    )
    try:
        claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
    except ClaimError as exc:
        raise OidcError(f"{exc.error}_{exc.claim}"[:60]) from exc
    except JoseError as exc:
        raise OidcError("bad_claims") from exc
    return dict(claims)
