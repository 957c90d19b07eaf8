"""/healthz, the demo data and TOTP helper commands, the services check and the `dev` script."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import Settings as SettingsWrapper

from portal.celery import app
from portal.models import Company, Membership, User

ROOT = Path(__file__).resolve().parents[2]

# --- /healthz ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_ok(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_reports_an_unreachable_broker(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = app.connection_for_write

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        return real(url="redis://127.0.0.1:1/0")

    monkeypatch.setattr(app, "connection_for_write", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    # The reason names the kind of failure, not connection details.
    assert "127.0.0.1" not in body["broker"]


@pytest.mark.django_db
def test_healthz_reports_a_broker_error(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(app, "connection_for_write", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "broker": "error: ConnectionRefusedError",
    }


# --- seed_demo and totp_code ---------------------------------------------------------------------

DEMO_ROLES = ["owner", "purchaser", "approver", "finance", "viewer"]
# Tests that do not sign in need no slow password hashing.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TWO_FACTOR_LABELS = {"owner", "approver", "finance", "operator (admin)", "owner (other company)"}


def _parse_credentials(output: str) -> dict[str, tuple[str, str, str]]:
    """email -> (label, password, TOTP secret or "-") from seed_demo's table."""
    rows: dict[str, tuple[str, str, str]] = {}
    for line in output.splitlines():
        match = re.match(
            r"^(?P<label>\S.*?)\s+(?P<email>\S+@\S+)\s+(?P<pw>\S+)\s+(?P<s>\S+)$", line
        )
        if match:
            rows[match["email"]] = (match["label"], match["pw"], match["s"])
    return rows


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Company.objects.count(),
        Membership.objects.count(),
        TOTPDevice.objects.count(),
    )


@pytest.mark.django_db
def test_seed_demo_creates_users_once_and_their_passwords_work(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    output = out.getvalue()
    rows = _parse_credentials(output)

    company = Company.objects.get(credit_code="91350100M000100Y43")
    assert company.status == Company.Status.ACTIVE
    members = {m.role: m.user for m in company.memberships.select_related("user")}
    assert sorted(members) == sorted(DEMO_ROLES)
    assert company.memberships.count() == len(DEMO_ROLES)
    for role in DEMO_ROLES:
        assert members[role].email == f"{role}@demo.example"
        assert f"{role}@demo.example" in rows
    operator = User.objects.get(email="operator@demo.example")
    assert operator.is_staff
    assert not operator.memberships.exists()
    assert "operator@demo.example" in rows
    assert not any(u.is_staff for u in members.values())

    # Every printed password signs in through the login page; a TOTP secret is printed exactly
    # for the users that need a second factor, and it is their device's key.
    assert len(rows) == User.objects.count() == 7
    for email, (label, password, secret) in rows.items():
        user = User.objects.get(email=email)
        client = Client()
        response = client.post("/login/", {"username": email, "password": password})
        assert response.status_code == 302, (email, response.content[:500])
        assert client.session["_auth_user_id"] == str(user.pk)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if label in TWO_FACTOR_LABELS:
            assert device is not None, email
            assert secret == base64.b32encode(device.bin_key).decode().rstrip("=")
        else:
            assert device is None, email
            assert secret == "-"
    assert {label for label, _pw, secret in rows.values() if secret != "-"} == TWO_FACTOR_LABELS

    credentials_file = tmp_path / "demo-users.txt"
    assert credentials_file.read_text() == output
    assert credentials_file.stat().st_mode & 0o777 == 0o600

    # A second run creates nothing and prints the same credentials.
    counts = _counts()
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert _counts() == counts
    assert again.getvalue() == output


@pytest.mark.django_db
def test_seed_demo_without_its_credentials_file_still_creates_nothing(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = FAST_HASHERS
    call_command("seed_demo", stdout=StringIO())
    (tmp_path / "demo-users.txt").unlink()
    counts = _counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert _counts() == counts
    assert "credentials file is gone" in out.getvalue()


@pytest.mark.django_db
def test_totp_code_prints_a_code_the_device_accepts(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = FAST_HASHERS
    call_command("seed_demo", stdout=StringIO())
    for email in ("owner@demo.example", "operator@demo.example"):
        out = StringIO()
        call_command("totp_code", email.upper(), stdout=out)
        code = out.getvalue().strip()
        assert re.fullmatch(r"\d{6}", code), code
        device = TOTPDevice.objects.get(user__email=email, confirmed=True)
        assert device.verify_token(code)


@pytest.mark.django_db
def test_totp_code_for_a_user_without_a_device_fails(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    from django.core.management.base import CommandError

    settings.VAR_DIR = tmp_path
    settings.PASSWORD_HASHERS = FAST_HASHERS
    call_command("seed_demo", stdout=StringIO())
    with pytest.raises(CommandError, match="no confirmed TOTP device"):
        call_command("totp_code", "viewer@demo.example", stdout=StringIO())


# --- scripts/check_services.py -------------------------------------------------------------------


def _check_services(**overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/check_services.py"],
        cwd=ROOT,
        env={**os.environ, **overrides},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_services_explains_an_unreachable_postgres() -> None:
    result = _check_services(DATABASE_URL="postgres://postgres@127.0.0.1:1/postgres")
    assert result.returncode != 0
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "Start it" in result.stderr
    assert "pg_ctlcluster" in result.stderr
    assert "nothing was run" in result.stderr


def test_check_services_explains_an_unreachable_redis() -> None:
    result = _check_services(REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode != 0
    assert "Redis is not reachable" in result.stderr
    assert "redis-server" in result.stderr
    assert "PostgreSQL" not in result.stderr


def test_check_services_passes_with_the_running_services() -> None:
    result = _check_services(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert "PostgreSQL" not in result.stderr
    assert "Redis" not in result.stderr


# --- The `dev` script's Python finder ------------------------------------------------------------


def _dev_functions() -> str:
    """python_ok() and find_python() exactly as the `dev` script defines them."""
    text = (ROOT / "dev").read_text()
    python_ok = re.search(r"^python_ok\(\) \{.*?\}$", text, re.MULTILINE)
    find_python = re.search(r"^find_python\(\) \{\n.*?\n\}$", text, re.MULTILINE | re.DOTALL)
    assert python_ok is not None
    assert find_python is not None
    return python_ok.group(0) + "\n" + find_python.group(0) + "\n"


def _find_python(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", _dev_functions() + "find_python"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _version(python: str) -> tuple[int, int]:
    out = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_dev_finds_python_312_or_newer_on_this_machine() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_PYTHON"}
    # The venv's own bin (where `python` is 3.12) must not make this pass.
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env.pop("VIRTUAL_ENV", None)
    result = _find_python(env)
    assert result.returncode == 0, result.stderr
    found = result.stdout.strip()
    assert Path(found).is_absolute()
    assert _version(found) >= (3, 12)


def _fake_old_python(path: Path) -> None:
    path.write_text(
        "#!/bin/sh\n# An interpreter older than 3.12: fails the version check.\nexit 1\n"
    )
    path.chmod(0o755)


def test_dev_skips_an_old_python3_on_path_for_a_newer_one(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_old_python(bin_dir / "python3")
    _fake_old_python(bin_dir / "python")
    real = os.path.realpath(sys.executable)
    (bin_dir / "python3.12").symlink_to(real)
    result = _find_python({"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bin_dir / "python3.12")


def test_dev_finds_a_pyenv_python_that_is_not_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_old_python(bin_dir / "python3")
    # pyenv's shim answers `command -v` but fails to run an unselected version.
    _fake_old_python(bin_dir / "python3.12")
    version_bin = tmp_path / ".pyenv" / "versions" / "3.12.9" / "bin"
    version_bin.mkdir(parents=True)
    (version_bin / "python3").symlink_to(os.path.realpath(sys.executable))
    result = _find_python({"PATH": str(bin_dir), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(version_bin / "python3")


def test_dev_prefers_portal_python(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    chosen = tmp_path / "my-python"
    chosen.symlink_to(os.path.realpath(sys.executable))
    (bin_dir / "python3.13").symlink_to(os.path.realpath(sys.executable))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PORTAL_PYTHON": str(chosen)}
    result = _find_python(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chosen)
