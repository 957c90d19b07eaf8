"""Settings per environment (started as fresh processes), security headers and migrations."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _production_env(var_dir: Path) -> dict[str, str]:
    return {
        "PORTAL_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "CARD_CODE_PEPPER": secrets.token_hex(32),
        "CARD_CODE_KEYS": f"k1:{secrets.token_hex(32)}",
        "ALLOWED_HOSTS": "portal.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "EMAIL_URL": "smtp+tls://user:pw@smtp.example.com:587",
        "PORTAL_VAR_DIR": str(var_dir),
    }


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh interpreter whose environment holds only PATH, HOME and `env`."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env["PORTAL_VAR_DIR"])}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _shell_print(expression: str, env: dict[str, str]) -> str:
    """The value of a Python expression evaluated in `manage.py shell` with these settings."""
    result = _manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        f"from django.conf import settings; print('VALUE=' + str({expression}))",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    values = [line[6:] for line in result.stdout.splitlines() if line.startswith("VALUE=")]
    assert len(values) == 1, result.stdout
    return values[0]


def test_production_deploy_check_has_no_issues(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output
    # Production never generates secrets on disk.
    assert not (tmp_path / "secrets.env").exists()


def test_production_deploy_check_accepts_a_mail_spool_directory(tmp_path: Path) -> None:
    # Given production settings whose EMAIL_URL is a spool directory, as the README allows
    spool = tmp_path / "mail-spool"
    env = {**_production_env(tmp_path), "EMAIL_URL": f"file://{spool}"}

    # When the deploy check runs
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    # Then it finds nothing wrong
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "no issues" in output


@pytest.mark.parametrize(
    ("email_url", "error"),
    [
        ("console://", "mail.E001"),
        # A spool "directory" under a plain file can never be created.
        ("file://{tmp}/a-file/spool", "portal.E002"),
    ],
)
def test_production_deploy_check_still_refuses_mail_that_goes_nowhere(
    tmp_path: Path, email_url: str, error: str
) -> None:
    (tmp_path / "a-file").write_text("")
    env = {**_production_env(tmp_path), "EMAIL_URL": email_url.format(tmp=tmp_path)}

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert error in result.stdout + result.stderr


def test_production_behind_the_tls_proxy_trusts_one_proxy_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    env = {**_production_env(tmp_path), "BEHIND_TLS_PROXY": "true"}
    assert _shell_print("settings.TRUSTED_PROXY_COUNT", env) == "1"
    ok = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    no_proxy_counted = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**env, "TRUSTED_PROXY_COUNT": "0"}
    )
    assert no_proxy_counted.returncode != 0
    assert "portal.W001" in no_proxy_counted.stdout + no_proxy_counted.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(tmp_path: Path, missing: str) -> None:
    env = _production_env(tmp_path)
    del env[missing]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr.strip().splitlines()[-1]


def test_production_refuses_empty_secret_key(tmp_path: Path) -> None:
    env = _production_env(tmp_path)
    env["SECRET_KEY"] = ""
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_development_generates_secrets_once_and_uses_local_stores(tmp_path: Path) -> None:
    env = {"PORTAL_ENV": "development", "PORTAL_VAR_DIR": str(tmp_path)}
    first_key = _shell_print("settings.SECRET_KEY", env)
    secrets_file = tmp_path / "secrets.env"
    assert secrets_file.is_file()
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    body = secrets_file.read_text()
    assert f"SECRET_KEY={first_key}\n" in body
    assert len(first_key) >= 50
    assert re.search(r"^CARD_CODE_PEPPER=\S+$", body, re.MULTILINE)
    assert re.search(r"^CARD_CODE_KEYS=k1:[0-9a-f]{64}$", body, re.MULTILINE)
    # No temporary files are left beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    second_key = _shell_print("settings.SECRET_KEY", env)
    assert second_key == first_key
    assert secrets_file.read_text() == body

    database = _shell_print("settings.DATABASES['default']['ENGINE']", env)
    assert database == "django.db.backends.sqlite3"
    assert _shell_print("settings.DATABASES['default']['NAME']", env) == str(
        tmp_path / "portal.sqlite3"
    )
    assert _shell_print("settings.CELERY_BROKER_URL", env) == "filesystem://"
    queue_dir = _shell_print("settings.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']", env)
    assert Path(queue_dir).is_relative_to(tmp_path)
    assert Path(queue_dir).is_dir()


def test_development_takes_secrets_from_the_environment_first(tmp_path: Path) -> None:
    env = {"PORTAL_ENV": "development", "PORTAL_VAR_DIR": str(tmp_path)}
    _shell_print("settings.SECRET_KEY", env)
    own_key = secrets.token_urlsafe(50)
    assert _shell_print("settings.SECRET_KEY", {**env, "SECRET_KEY": own_key}) == own_key


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"HOST": "0.0.0.0", "PORT": "9001"}, "http://localhost:9001"),
        ({"HOST": "::1", "PORT": "9002"}, "http://[::1]:9002"),
        ({"PORT": "8123", "PORTAL_BASE_URL": "https://portal.example/"}, "https://portal.example"),
    ],
)
def test_development_links_in_emails_point_where_dev_run_serves(
    tmp_path: Path, address: dict[str, str], expected: str
) -> None:
    # Given the address `./dev run` serves on (its HOST and PORT, exported to the web server and
    # the worker), and no PORTAL_BASE_URL unless the case sets one
    env = {"PORTAL_ENV": "development", "PORTAL_VAR_DIR": str(tmp_path), **address}

    # Then the portal's address for emailed links is that one
    assert _shell_print("settings.PORTAL_BASE_URL", env) == expected


@pytest.mark.django_db
def test_security_headers_on_a_normal_response(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    directives = {
        name: values
        for name, _sep, values in (part.strip().partition(" ") for part in policy.split(";"))
    }
    script_src = directives["script-src"].split()
    assert "'self'" in script_src
    nonces = [v for v in script_src if v.startswith("'nonce-")]
    assert len(nonces) == 1
    nonce = nonces[0].removeprefix("'nonce-").removesuffix("'")
    # The page's own script carries the nonce the header allows.
    assert f'nonce="{nonce}"' in response.content.decode()
    assert "'unsafe-inline'" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"

    # A fresh nonce for every response.
    again = client.get("/login/").headers["Content-Security-Policy"]
    assert nonces[0] not in again


@pytest.mark.django_db
def test_admin_is_mounted_at_the_configured_path_only(client: Client) -> None:
    assert settings.ADMIN_PATH == "ops/"
    response = client.get(f"/{settings.ADMIN_PATH}")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/{settings.ADMIN_PATH}login/")
    assert client.get(f"/{settings.ADMIN_PATH}login/").status_code == 200
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login/").status_code == 404


@pytest.mark.django_db
def test_migrations_are_in_step_with_models() -> None:
    # --check exits (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
