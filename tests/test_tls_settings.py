"""Kaimen's own TLS settings are checked at start-up, each problem naming its setting (issue 6, item 1;
kaimen.tls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kaimen.cli.main import cli
from kaimen.settings import SettingsError, load_settings
from tests.tls_support import Pem, self_signed

PUBLIC = "https://bank.example"


@pytest.fixture
def pem(tmp_path: Path) -> Pem:
    return self_signed(tmp_path, "bank")


def refused(tmp_path: Path, **overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**{"data_dir": tmp_path, "public_base_url": PUBLIC, **overrides})
    return str(caught.value)


def test_a_certificate_and_its_key_are_accepted(tmp_path: Path, pem: Pem) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        public_base_url=PUBLIC,
        tls_certificate=pem.certificate,
        tls_private_key=pem.private_key,
    )
    assert (settings.tls_certificate, settings.tls_private_key) == (pem.certificate, pem.private_key)


def test_tls_is_off_by_default(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.tls_certificate is None and settings.tls_private_key is None


def test_both_files_or_neither(tmp_path: Path, pem: Pem) -> None:
    # granian would serve plain HTTP when given only one of them.
    assert "KAIMEN_TLS_CERTIFICATE is set without KAIMEN_TLS_PRIVATE_KEY: set both or neither" in refused(
        tmp_path, tls_certificate=pem.certificate
    )
    assert "KAIMEN_TLS_PRIVATE_KEY is set without KAIMEN_TLS_CERTIFICATE: set both or neither" in refused(
        tmp_path, tls_private_key=pem.private_key
    )


def test_missing_and_unreadable_files_are_named(tmp_path: Path, pem: Pem) -> None:
    missing = tmp_path / "nowhere.crt"
    text = refused(tmp_path, tls_certificate=missing, tls_private_key=pem.private_key)
    assert f"KAIMEN_TLS_CERTIFICATE ({missing}) does not exist" in text
    # A directory cannot be read as a file, even by root (for whom no file mode is unreadable).
    text = refused(tmp_path, tls_certificate=pem.certificate, tls_private_key=tmp_path)
    assert f"KAIMEN_TLS_PRIVATE_KEY ({tmp_path}) cannot be read: Is a directory" in text


def test_files_that_are_not_pem_are_named(tmp_path: Path, pem: Pem) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    text = refused(tmp_path, tls_certificate=junk, tls_private_key=pem.private_key)
    assert f"KAIMEN_TLS_CERTIFICATE ({junk}) holds no PEM certificate" in text
    # The certificate given as the key (a common slip).
    text = refused(tmp_path, tls_certificate=pem.certificate, tls_private_key=pem.certificate)
    assert f"KAIMEN_TLS_PRIVATE_KEY ({pem.certificate}) is not a PEM private key" in text


def test_the_key_must_belong_to_the_certificate(tmp_path: Path, pem: Pem) -> None:
    other = self_signed(tmp_path, "other")
    text = refused(tmp_path, tls_certificate=pem.certificate, tls_private_key=other.private_key)
    assert (
        f"KAIMEN_TLS_PRIVATE_KEY ({other.private_key}) is not the key of KAIMEN_TLS_CERTIFICATE's "
        "first certificate"
    ) in text


def test_an_encrypted_key_is_refused(tmp_path: Path) -> None:
    # granian 2.8 cannot open an encrypted PKCS#8 key: its workers would crash in a loop (kaimen.tls).
    locked = self_signed(tmp_path, "locked", password="open sesame")
    text = refused(tmp_path, tls_certificate=locked.certificate, tls_private_key=locked.private_key)
    assert f"KAIMEN_TLS_PRIVATE_KEY ({locked.private_key}) is encrypted: give kaimen serve the key" in text


def test_a_certificate_needs_an_https_public_base_url(tmp_path: Path, pem: Pem) -> None:
    # Kaimen with a certificate answers only https: an http issuer would name a URL nobody reaches.
    text = refused(
        tmp_path,
        tls_certificate=pem.certificate,
        tls_private_key=pem.private_key,
        public_base_url="http://localhost:8443",
    )
    assert "KAIMEN_PUBLIC_BASE_URL must be https when KAIMEN_TLS_CERTIFICATE is set" in text


def test_tls_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pem: Pem) -> None:
    monkeypatch.setenv("KAIMEN_PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("KAIMEN_TLS_CERTIFICATE", str(pem.certificate))
    with pytest.raises(SettingsError, match="KAIMEN_TLS_CERTIFICATE is set without KAIMEN_TLS_PRIVATE_KEY"):
        load_settings(data_dir=tmp_path)
    monkeypatch.setenv("KAIMEN_TLS_PRIVATE_KEY", str(pem.private_key))
    assert load_settings(data_dir=tmp_path).tls_private_key == pem.private_key


def test_kaimen_serve_names_a_wrong_tls_option(tmp_path: Path, pem: Pem) -> None:
    # --tls-certificate and --tls-private-key are checked with the settings, before granian starts.
    missing = tmp_path / "missing.key"
    env = {"KAIMEN_DATA_DIR": str(tmp_path), "KAIMEN_PUBLIC_BASE_URL": PUBLIC}
    args = [
        "serve",
        "--port",
        "0",
        "--tls-certificate",
        str(pem.certificate),
        "--tls-private-key",
        str(missing),
    ]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert f"KAIMEN_TLS_PRIVATE_KEY ({missing}) does not exist" in result.output
