"""Single sign-on's state changes: a company's configuration (``config``) and signing a member
in (``signin``)."""

from sso.services.config import (
    SsoConfigInput,
    client_secret,
    sso_config_remove,
    sso_config_save,
    sso_config_stop_requiring,
)
from sso.services.signin import (
    SignInFlow,
    SignInRefused,
    SignInResult,
    config_for_email,
    sso_signin_complete,
    sso_signin_start,
)

__all__ = [
    "SignInFlow",
    "SignInRefused",
    "SignInResult",
    "SsoConfigInput",
    "client_secret",
    "config_for_email",
    "sso_config_remove",
    "sso_config_save",
    "sso_config_stop_requiring",
    "sso_signin_complete",
    "sso_signin_start",
]
