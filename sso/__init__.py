"""Single sign-on: a company's members sign in through its identity provider (OpenID Connect).

See docs/sso.md. ``models`` holds each company's configuration, ``oidc`` talks to the identity
provider (discovery, the authorization request, the token exchange, the ID token's checks),
``services`` changes configurations and signs members in, ``access`` holds the session rules
(which memberships a session may act for, when an SSO session must go back to the provider,
when a password is refused)."""
