"""A small OpenID Connect provider for the suite, served from a thread on 127.0.0.1.

Discovery, JWKS, authorize and token endpoints; Authorization Code with PKCE (S256) enforced;
RS256-signed ID tokens. The browser's session at the provider is ``signed_in``: the address the
test says is signed in there. Switches let a test disable a person, drop ``email_verified``,
set ``amr``/``acr``, send a wrong nonce or other claims, or spoil the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Person:
    email: str
    subject: str = field(default_factory=lambda: secrets.token_hex(8))
    email_verified: bool = True
    disabled: bool = False
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    acr: str = ""


@dataclass
class Grant:
    person: Person
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str


class OidcProvider:
    def __init__(self, *, client_id: str = "portal", client_secret: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.people: dict[str, Person] = {}
        self.signed_in: str | None = None
        # Switches for the refusals a test wants to see.
        self.wrong_nonce = False
        self.spoil_signature = False
        self.foreign_key: RSAKey | None = None
        self.claim_overrides: dict[str, Any] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self._grants: dict[str, Grant] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OidcProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- the test's side ------------------------------------------------------------------

    def person(self, email: str, **fields: Any) -> Person:
        person = Person(email=email, **fields)
        self.people[email] = person
        return person

    def sign_in_as(self, email: str) -> Person:
        self.signed_in = email
        return self.people.get(email) or self.person(email)

    # --- the provider ---------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    def authorize(self, query: dict[str, str]) -> str:
        """The Location the provider sends the browser to."""
        self.authorize_requests.append(query)
        redirect_uri = query["redirect_uri"]
        state = query.get("state", "")
        person = self.people.get(self.signed_in or "")
        if (
            query.get("client_id") != self.client_id
            or query.get("response_type") != "code"
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            return f"{redirect_uri}?{urlencode({'error': 'invalid_request', 'state': state})}"
        if person is None or person.disabled:
            return f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}"
        code = secrets.token_urlsafe(16)
        self._grants[code] = Grant(
            person=person,
            client_id=query["client_id"],
            redirect_uri=redirect_uri,
            nonce=query.get("nonce", ""),
            code_challenge=query["code_challenge"],
        )
        return f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        expected = (
            "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        )
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if challenge != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        now = int(time.time())
        person = grant.person
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": person.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce" if self.wrong_nonce else grant.nonce,
            "email": person.email,
            "email_verified": person.email_verified,
            "amr": person.amr,
        }
        if person.acr:
            claims["acr"] = person.acr
        claims.update(self.claim_overrides)
        key = self.foreign_key or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        if self.spoil_signature:
            head, payload, signature = id_token.split(".")
            flipped = "A" if signature[0] != "A" else "B"
            id_token = f"{head}.{payload}.{flipped}{signature[1:]}"
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif parts.path == "/jwks":
                    self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                elif parts.path == "/authorize":
                    self.send_response(302)
                    self.send_header("Location", provider.authorize(query))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if urlsplit(self.path).path == "/token":
                    status, answer = provider.token(form, self.headers.get("Authorization", ""))
                    self._json(status, answer)
                else:
                    self._json(404, {"error": "not_found"})

        return Handler
