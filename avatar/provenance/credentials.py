"""Content credentials: a signed C2PA manifest in every video the presenter makes.

The manifest says the video was created by a trained algorithm (IPTC digital source type
`trainedAlgorithmicMedia`), by which software and with which presenter model, and it hashes the
file, so any later edit of the picture or sound shows up as an invalid manifest.

Signing needs a certificate chain: c2pa rejects a self-signed leaf certificate. On first use a
project-local certificate authority and a signing certificate issued by it are created in
`$AVATAR_CACHE/c2pa/` (private keys readable by the owner only). Readers that are given that CA
(`read_credentials` does) report the manifest as "Trusted"; others as "Valid" with an untrusted
signer, which is honest: this is a local CA, not a public one. This module alone imports c2pa and
cryptography.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from avatar import __version__
from avatar.errors import UserError
from avatar.paths import atomic_path, atomic_write, cache_dir, writable_dir

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# A driver clip without a presenter: real frames of the driver with mouths chosen and pasted to
# match synthesised speech.
COMPOSITE_SYNTHETIC = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
SOFTWARE = "synthetic-presenter"
ORGANISATION = "Synthetic presenter (local)"
_CA_YEARS, _LEAF_YEARS = 10, 2
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class SigningIdentity:
    """PEM bytes: `chain` is the signing certificate then the CA; `ca` alone is the trust anchor."""

    chain: bytes
    key: bytes
    ca: bytes


@dataclass(frozen=True)
class Credentials:
    """What a video's manifest says. state: "Trusted", "Valid" or "Invalid" (c2pa's words);
    failures: c2pa's failure codes (e.g. "assertion.bmffHash.mismatch" after an edit)."""

    state: str
    title: str
    digital_source_type: str | None
    software: str | None
    signer: str | None
    issuer: str | None
    presenter: dict
    ingredients: list[str]
    failures: list[str]
    voice: dict = field(default_factory=dict)


def local_identity(folder: Path | None = None) -> SigningIdentity:
    """The project-local CA and signing certificate in `folder` (default `$AVATAR_CACHE/c2pa`),
    created on first use; the signing certificate is renewed 30 days before it expires."""
    folder = Path(folder) if folder else _default_folder()
    try:
        if not (folder / "ca.pem").is_file():
            _create_ca(folder)
        ca_cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        leaf_path = folder / "signer.pem"
        if not leaf_path.is_file() or _expires_soon(x509.load_pem_x509_certificate(leaf_path.read_bytes())):
            ca_key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), None)
            _issue_signer(folder, ca_cert, ca_key)
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        return SigningIdentity(leaf_path.read_bytes() + ca_pem, (folder / "signer-key.pem").read_bytes(), ca_pem)
    except OSError as error:
        raise UserError(f"the content-credentials keys in {folder} cannot be created or read "
                        f"({error.strerror or error}), so no video can be signed.") from None
    except ValueError as error:  # a damaged certificate or key
        raise UserError(f"the content-credentials keys in {folder} are damaged ({error}); move the folder aside "
                        "to make new ones.") from None


def sign_video(path: Path, title: str, presenter: dict | None, ingredients: list[Path] = (),
               source_type: str = TRAINED_ALGORITHMIC_MEDIA, identity: SigningIdentity | None = None,
               out: Path | None = None, voice: dict | None = None) -> None:
    """Embed a signed manifest in the MP4 at `path` (rewritten in place, atomically; or written
    to `out`, which appears only signed).

    presenter: `Presenter.manifest_facts()` of the model that drew the face, stored as the assertion
    "org.synthetic-presenter.presenter" (None: no presenter, e.g. a driver clip). ingredients:
    signed videos this one is made from (a dialogue's answers), listed with their own manifests.
    voice: who spoke the sound (`speech.voices.disclosure`: name, synthetic, source, licence),
    stored as the assertion "org.synthetic-presenter.voice".
    """
    path = Path(path)
    out = Path(out) if out is not None else path
    identity = identity or local_identity()
    manifest = {
        "claim_generator_info": [{"name": SOFTWARE, "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": source_type,
                "softwareAgent": {"name": SOFTWARE, "version": __version__}}]}},
        ],
    }
    if presenter is not None:
        manifest["assertions"].append({"label": "org.synthetic-presenter.presenter", "data": presenter})
    if voice is not None:
        manifest["assertions"].append({"label": "org.synthetic-presenter.voice", "data": voice})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", identity.chain, identity.key, None))
    try:
        with atomic_path(out) as tmp, c2pa.Builder.from_json(json.dumps(manifest)) as builder:
            for ingredient in ingredients:
                with open(ingredient, "rb") as stream:
                    builder.add_ingredient({"title": Path(ingredient).name, "relationship": "componentOf"},
                                           "video/mp4", stream)
            builder.sign_file(path, tmp, signer)
    except c2pa.C2paError as error:
        raise UserError(f"could not sign {out.name} with content credentials: {error}") from error
    except OSError as error:
        raise UserError(f"could not sign {out.name} with content credentials ({error.strerror or error}).") from None
    finally:
        signer.close()


def read_credentials(path: Path, trust: bytes | None = None) -> Credentials | None:
    """The manifest of the video at `path`, validated, trusting the CA `trust` (PEM; None: the
    local CA when it exists; b"": no CA). None when the file has no manifest."""
    if trust is None and (_default_folder() / "ca.pem").is_file():
        trust = (_default_folder() / "ca.pem").read_bytes()
    settings = {"verify": {"verify_trust": True}, "trust": {"user_anchors": trust.decode()}} if trust else {}
    try:
        with c2pa.Context.from_dict(settings) as context, c2pa.Reader(str(path), context=context) as reader:
            manifest = reader.get_active_manifest() or {}
            state = reader.get_validation_state() or "Invalid"
            results = reader.get_validation_results() or {}
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError as error:
        raise UserError(f"could not read the content credentials of {Path(path).name}: {error}") from error
    try:
        credentials = _credentials(manifest, state, results)
    except (KeyError, TypeError, AttributeError, IndexError):
        raise UserError(f"the content credentials of {Path(path).name} are damaged (the manifest is malformed), "
                        "so they cannot be trusted.") from None
    outside = unsigned_bytes(Path(path))
    if outside:  # the hash leaves them out, so the signature cannot speak for them
        return replace(credentials, state="Invalid", failures=[*credentials.failures, f"unsigned content: {outside}"])
    return credentials


def unsigned_bytes(path: Path) -> str | None:
    """What an MP4 holds that a content-credentials hash does not cover, in words, or None: data
    in a top-level `free` or `skip` box (the hash skips them; a signed video's own are empty) or
    bytes past its last box. Reads only the boxes' headers."""
    size, at = path.stat().st_size, 0
    with open(path, "rb") as f:
        while at < size:
            f.seek(at)
            header = f.read(16)
            if len(header) < 8:
                return f"{size - at} bytes after the last box"
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1 and len(header) == 16:
                length = int.from_bytes(header[8:16], "big")
            elif length == 0:
                length = size - at  # the box runs to the end of the file
            if length < 8 or at + length > size:
                return f"{size - at} bytes after the last whole box"
            if kind in (b"free", b"skip") and length > 8:
                return f"a {length}-byte {kind.decode()} box at byte {at:,}"
            at += length
    return None


def _credentials(manifest: dict, state: str, results: dict) -> Credentials:
    assertions = {a["label"]: a.get("data", {}) for a in manifest.get("assertions", [])}
    actions = assertions.get("c2pa.actions.v2", {}).get("actions", [{}])
    signature = manifest.get("signature_info", {})
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    return Credentials(
        state=state, title=manifest.get("title", ""),
        digital_source_type=actions[0].get("digitalSourceType"),
        software=(actions[0].get("softwareAgent") or {}).get("name"),
        signer=signature.get("common_name"), issuer=signature.get("issuer"),
        presenter=assertions.get("org.synthetic-presenter.presenter", {}),
        ingredients=[i.get("title", "") for i in manifest.get("ingredients", [])],
        failures=failures, voice=assertions.get("org.synthetic-presenter.voice", {}))


def _default_folder() -> Path:
    return cache_dir("c2pa")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not sign, crl_sign=not sign,
                         encipher_only=False, decipher_only=False)


def _private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _create_ca(folder: Path) -> None:
    """A new CA in a temporary folder renamed into place, so two processes starting at once end
    up sharing whichever CA was created first."""
    writable_dir(folder.parent, "content-credentials folder")
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".c2pa-"))
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("local content-credentials CA"))
            .issuer_name(_name("local content-credentials CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365 * _CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(sign=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    atomic_write(staging / "ca-key.pem", _private_pem(key), mode=0o600)
    (staging / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _issue_signer(staging, cert, key)
    try:
        os.rename(staging, folder)
    except OSError:  # another process won the race (or an empty folder was there): keep theirs
        if not (folder / "ca.pem").is_file():
            raise
        for item in staging.iterdir():
            item.unlink()
        staging.rmdir()


def _issue_signer(folder: Path, ca_cert: x509.Certificate, ca_key) -> None:
    """A signing certificate for C2PA claims: digitalSignature, emailProtection EKU, not a CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(f"{SOFTWARE} signer")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(min(now + datetime.timedelta(days=365 * _LEAF_YEARS), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(sign=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    atomic_write(folder / "signer-key.pem", _private_pem(key), mode=0o600)
    (folder / "signer.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _expires_soon(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) < _RENEW_BEFORE
