"""Signing keys and certificates for registry bearer tokens.

The CNCF distribution registry (``auth: token``) verifies our JWTs with the public keys found in
the certificates of its ``rootcertbundle``. It finds the key for a token through the JWT header's
``kid``, which must be the *libtrust key id* of that key. This module loads or creates the private
key, creates a self-signed certificate for it, computes the key id and builds the PEM bundle
(several certificates, so that a key can be rotated without downtime).

Pure Python on purpose: no Django import. Callers pass paths and names explicitly.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "algorithm_for",
    "build_cert_bundle",
    "certificate_path_for",
    "generate_private_key",
    "libtrust_key_id",
    "load_or_create_certificate",
    "load_or_create_private_key",
    "load_private_key",
    "load_signing_key",
    "make_self_signed_certificate",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
KeyType = Literal["ec", "rsa"]
_T = TypeVar("_T")

# Ten years: the registry does not check the validity period of bundle certificates when it
# looks keys up by ``kid``, so a short lifetime would only add an expiry to forget about.
DEFAULT_CERT_VALIDITY_DAYS = 3650
RSA_KEY_SIZE = 2048
# How long a loser of the creation race waits for the winner's file to become readable when
# the hard-link fast path is unavailable (the fallback writes the file in place).
_READ_RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign registry tokens.

    ``kid`` is the libtrust key id that goes into the JWT header; ``cert_pem`` is the PEM of the
    self-signed certificate whose public key the registry uses to verify the signature.
    """

    private_key: PrivateKey
    algorithm: Literal["ES256", "RS256"]
    kid: str
    cert_pem: bytes

    @property
    def public_key(self) -> PublicKey:
        """The public half of :attr:`private_key`."""
        return self.private_key.public_key()


def libtrust_key_id(public_key: PublicKey) -> str:
    """Return the libtrust key id of ``public_key``.

    SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes (240 bits, so base32 needs no
    padding), base32, upper case, split into 12 groups of 4 joined by ``:``. This is what
    ``libtrust.PublicKey.KeyID()`` returns and what registry 2.8 matches the JWT ``kid`` against.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).digest()[:30]
    encoded = base64.b32encode(digest).decode("ascii").rstrip("=").upper()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def algorithm_for(private_key: PrivateKey) -> Literal["ES256", "RS256"]:
    """Return the JWS algorithm for ``private_key``: ES256 for P-256, RS256 for RSA."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            # ES384/ES512 would need a matching curve; the registry supports them, but one
            # algorithm per key type keeps configuration and tests simple.
            raise ValueError(f"unsupported EC curve {private_key.curve.name}; use P-256")
        return "ES256"
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    raise TypeError(f"unsupported private key type {type(private_key).__name__}")


def generate_private_key(key_type: KeyType = "ec") -> PrivateKey:
    """Generate a new P-256 (``"ec"``, the default: cheap to sign) or RSA-2048 private key."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    raise ValueError(f"unknown key type {key_type!r}; expected 'ec' or 'rsa'")


def _private_key_from_pem(data: bytes, password: bytes | None) -> PrivateKey:
    key = serialization.load_pem_private_key(data, password=password)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}; use EC or RSA")
    algorithm_for(key)  # rejects unsupported curves early, at load time
    return key


def load_private_key(path: str | os.PathLike[str], *, password: bytes | None = None) -> PrivateKey:
    """Load an EC P-256 or RSA private key from a PEM file (PKCS#8, SEC1 or PKCS#1)."""
    return _private_key_from_pem(Path(path).read_bytes(), password)


def _private_key_pem(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _create_exclusive(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` unless it exists; return False if someone else won.

    The content is written to a temporary file in the same directory first and then hard-linked
    into place: ``link`` fails if the target exists, so a concurrent creator is never clobbered
    and a reader never sees a half-written file. Filesystems without hard links fall back to
    ``O_EXCL`` creation (still no clobbering; readers retry while the file is being written).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.link(tmp_name, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
        # No hard links here: exclusive create, then write.
        try:
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            return False
        with os.fdopen(out, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _replace_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, replacing any existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _read_with_retry(path: Path, parse: Callable[[bytes], _T]) -> _T:
    """Parse ``path``, retrying briefly while a racing creator may still be writing it."""
    deadline = time.monotonic() + _READ_RETRY_SECONDS
    while True:
        try:
            return parse(path.read_bytes())
        except ValueError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def load_or_create_private_key(
    path: str | os.PathLike[str],
    *,
    key_type: KeyType = "ec",
    password: bytes | None = None,
) -> PrivateKey:
    """Load the private key at ``path``, creating it (mode 0600) on first use.

    Safe when several processes (gunicorn workers, a management command) start at once: each
    generates a candidate, exactly one is linked into place and every process reads back that
    winner. ``key_type`` only matters for creation; an existing key is used whatever its type.
    """
    target = Path(path)
    if not target.exists():
        candidate = generate_private_key(key_type)
        if _create_exclusive(target, _private_key_pem(candidate), 0o600):
            return candidate
    return _read_with_retry(target, lambda data: _private_key_from_pem(data, password))


def make_self_signed_certificate(
    private_key: PrivateKey,
    common_name: str,
    *,
    validity_days: int = DEFAULT_CERT_VALIDITY_DAYS,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """Create a self-signed X.509 certificate for ``private_key`` with subject CN ``common_name``.

    The registry only uses the certificate as a container for the public key, but a proper
    CA:FALSE, digitalSignature certificate keeps strict tooling (openssl, Go's x509) happy.
    """
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)  # tolerate clock skew
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public_key = private_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(private_key, hashes.SHA256())


def certificate_path_for(key_path: str | os.PathLike[str]) -> Path:
    """Default certificate location beside a key: ``token.key`` -> ``token.crt``."""
    key = Path(key_path)
    if key.suffix == ".crt":
        return key.with_name(key.name + ".crt")
    return key.with_suffix(".crt")


def _same_public_key(cert: x509.Certificate, private_key: PrivateKey) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == private_key.public_key().public_bytes(*fmt)


def load_or_create_certificate(
    private_key: PrivateKey,
    cert_path: str | os.PathLike[str],
    *,
    common_name: str,
    validity_days: int = DEFAULT_CERT_VALIDITY_DAYS,
) -> bytes:
    """Return the PEM certificate for ``private_key`` at ``cert_path``, creating it if needed.

    An existing certificate is reused only if it holds the same public key; otherwise (the key
    was replaced by hand) a new one is written atomically. Racing creators are harmless: any
    certificate for the same key verifies the same signatures.
    """
    path = Path(cert_path)
    if path.exists():
        data = _read_with_retry(path, _check_cert_pem)
        if _same_public_key(x509.load_pem_x509_certificate(data), private_key):
            return data
        cert = make_self_signed_certificate(private_key, common_name, validity_days=validity_days)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        _replace_atomic(path, pem, 0o644)
        return pem
    cert = make_self_signed_certificate(private_key, common_name, validity_days=validity_days)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if _create_exclusive(path, pem, 0o644):
        return pem
    data = _read_with_retry(path, _check_cert_pem)
    if not _same_public_key(x509.load_pem_x509_certificate(data), private_key):
        raise ValueError(f"certificate {path} does not match its private key")
    return data


def _check_cert_pem(data: bytes) -> bytes:
    x509.load_pem_x509_certificate(data)  # raises ValueError if incomplete or not a cert
    return data


def load_signing_key(
    key_path: str | os.PathLike[str],
    *,
    cert_path: str | os.PathLike[str] | None = None,
    common_name: str = "imageaccess registry token signer",
    create: bool = True,
    key_type: KeyType = "ec",
    password: bytes | None = None,
    validity_days: int = DEFAULT_CERT_VALIDITY_DAYS,
) -> SigningKey:
    """Load (or with ``create=True`` create on first use) the token signing key and certificate.

    ``cert_path`` defaults to :func:`certificate_path_for` ``(key_path)``. With ``create=False``
    a missing key file raises :class:`FileNotFoundError`; the certificate is still created if
    absent, since it is derived data.
    """
    if create:
        private_key = load_or_create_private_key(key_path, key_type=key_type, password=password)
    else:
        private_key = load_private_key(key_path, password=password)
    cert_pem = load_or_create_certificate(
        private_key,
        cert_path if cert_path is not None else certificate_path_for(key_path),
        common_name=common_name,
        validity_days=validity_days,
    )
    return SigningKey(
        private_key=private_key,
        algorithm=algorithm_for(private_key),
        kid=libtrust_key_id(private_key.public_key()),
        cert_pem=cert_pem,
    )


def build_cert_bundle(
    current_cert_pem: bytes,
    extra_cert_paths: Iterable[str | os.PathLike[str]] = (),
) -> bytes:
    """Concatenate the current certificate and extra certificate files into one PEM bundle.

    This is the registry's ``rootcertbundle``. During a key rotation the previous (or next) key's
    certificate is listed in ``extra_cert_paths`` so tokens signed by either key verify. Each
    extra file may hold several certificates; duplicates (same DER) are dropped and every entry
    is parsed, so a broken file fails here rather than at registry start-up.
    """
    seen: set[bytes] = set()
    parts: list[bytes] = []
    sources: list[tuple[str, bytes]] = [("current certificate", current_cert_pem)]
    sources += [(str(p), Path(p).read_bytes()) for p in extra_cert_paths]
    for label, data in sources:
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ValueError(f"{label}: not a PEM certificate file ({exc})") from exc
        for cert in certs:
            der = cert.public_bytes(serialization.Encoding.DER)
            if der in seen:
                continue
            seen.add(der)
            parts.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(parts)
