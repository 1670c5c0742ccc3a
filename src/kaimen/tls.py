"""TLS served by Kaimen itself (``kaimen serve`` with no proxy in front): the certificate and private
key files, checked once at start-up so a wrong file is named before granian starts.

granian serves TLS only when it gets both files and quietly serves plain HTTP when it gets one, so
"both or neither" is checked here. Each file must be readable PEM and the key must be the key of the
first certificate: otherwise every handshake would fail after a start that looked fine. The key must
not be encrypted: granian 2.8 cannot open an encrypted PKCS#8 key (its workers crash in a loop), so
Kaimen takes no key password; keep the key file readable only by the user Kaimen runs as.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

CERTIFICATE = "KAIMEN_TLS_CERTIFICATE"
PRIVATE_KEY = "KAIMEN_TLS_PRIVATE_KEY"


def tls_problems(certificate: Path | None, private_key: Path | None) -> list[str]:
    """Every problem with the TLS settings, each naming its setting; empty when TLS is off or sound."""
    if certificate is None and private_key is None:
        return []
    if certificate is None:
        return [f"{PRIVATE_KEY} is set without {CERTIFICATE}: set both or neither"]
    if private_key is None:
        return [f"{CERTIFICATE} is set without {PRIVATE_KEY}: set both or neither"]
    problems: list[str] = []
    chain = _read(CERTIFICATE, certificate, problems)
    key_pem = _read(PRIVATE_KEY, private_key, problems)
    if chain is None or key_pem is None:
        return problems
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        problems.append(f"{CERTIFICATE} ({certificate}) holds no PEM certificate")
        leaf = None
    try:
        key = load_pem_private_key(key_pem, None)
    except TypeError:  # cryptography: the key is encrypted and no password was given
        problems.append(
            f"{PRIVATE_KEY} ({private_key}) is encrypted: give kaimen serve the key unencrypted, "
            "in a file only its user can read"
        )
        return problems
    except ValueError:
        problems.append(f"{PRIVATE_KEY} ({private_key}) is not a PEM private key")
        return problems
    if leaf is not None and _spki(leaf.public_key()) != _spki(key.public_key()):
        problems.append(f"{PRIVATE_KEY} ({private_key}) is not the key of {CERTIFICATE}'s first certificate")
    return problems


def _read(name: str, path: Path, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{name} ({path}) does not exist")
    except OSError as exc:
        problems.append(f"{name} ({path}) cannot be read: {exc.strerror or exc}")
    return None


def _spki(public_key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
