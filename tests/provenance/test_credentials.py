"""Content credentials: signed C2PA manifests that a reader validates, and that break on edits."""

import json
import shutil
import stat
import subprocess
import sys

import pytest
from cryptography import x509

from avatar.errors import UserError
from avatar.media import iter_frames, probe
from avatar.media.decode import decode_audio
from avatar.presenter import open_presenter, write_record
from avatar.provenance import credentials
from avatar.provenance.credentials import (COMPOSITE_SYNTHETIC, TRAINED_ALGORITHMIC_MEDIA, local_identity,
                                           read_credentials, sign_video)


@pytest.fixture
def ca_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AVATAR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "c2pa"


@pytest.fixture
def video(make_video, tmp_path):
    copy = tmp_path / "answer.mp4"
    shutil.copy(make_video("credentials.mp4", seconds=2, audio=True), copy)
    return copy


def test_a_signed_video_says_it_is_ai_generated_and_which_presenter_drew_it(ca_folder, video, tiny_model,
                                                                              consent_file, tmp_path):
    presenter = tmp_path / tiny_model.name
    shutil.copytree(tiny_model, presenter)
    shutil.copy(consent_file, presenter / "consent.json")
    write_record(presenter)  # the consent is believed only when sealed
    sign_video(video, "AI presenter answer", open_presenter(presenter).manifest_facts())
    found = read_credentials(video)
    assert found.state == "Trusted" and found.failures == []
    assert found.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert found.title == "AI presenter answer" and found.software == "synthetic-presenter"
    assert found.presenter["model"] == tiny_model.name and len(found.presenter["model_sha256"]) == 16
    assert found.presenter["consent"]["person"] == "Test Person"


def test_signing_keeps_the_video_playable_with_its_sound(ca_folder, video):
    before = probe(video)
    sign_video(video, "clip", None)
    after = probe(video)
    assert (after.codec, after.frames, after.audio_codec) == (before.codec, before.frames, before.audio_codec)
    assert len(list(iter_frames(video))) == before.frames
    assert len(decode_audio(video, 16000)) == pytest.approx(2.0 * 16000, rel=0.05)


def test_a_reader_without_the_local_ca_sees_a_valid_but_untrusted_signer(ca_folder, video):
    sign_video(video, "clip", None)
    found = read_credentials(video, trust=b"")
    assert found.state == "Valid" and found.failures == ["signingCredential.untrusted"]


def test_editing_the_picture_after_signing_invalidates_the_manifest(ca_folder, video):
    sign_video(video, "clip", None)
    data = bytearray(video.read_bytes())
    data[data.find(b"mdat") + 2000] ^= 0xFF  # one byte of coded picture/sound
    video.write_bytes(bytes(data))
    found = read_credentials(video)
    assert found.state == "Invalid" and "assertion.bmffHash.mismatch" in found.failures


def test_bytes_after_the_signed_content_make_the_video_invalid(ca_folder, video):
    """A `free` box the hash does not cover, appended after signing, once still verified as Trusted."""
    sign_video(video, "clip", None)
    assert read_credentials(video).state == "Trusted"
    signed = video.read_bytes()
    hidden = b"anything at all, even another video"
    video.write_bytes(signed + (8 + len(hidden)).to_bytes(4, "big") + b"free" + hidden)
    found = read_credentials(video)
    assert found.state == "Invalid" and any("free box at byte" in f for f in found.failures)
    video.write_bytes(signed + b"trailing")
    with pytest.raises(UserError):  # not a whole box: c2pa cannot even parse it
        read_credentials(video)


def test_an_unsigned_video_has_no_credentials(ca_folder, video):
    assert read_credentials(video) is None


def test_the_local_ca_is_made_once_with_private_keys_for_the_owner_only(ca_folder):
    first = local_identity()
    assert local_identity() == first
    for name in ("ca-key.pem", "signer-key.pem"):
        assert stat.S_IMODE((ca_folder / name).stat().st_mode) == 0o600
    signer, ca = x509.load_pem_x509_certificates(first.chain)
    assert signer.issuer == ca.subject != signer.subject  # c2pa refuses a self-signed signer
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_signer_certificate_about_to_expire_is_renewed_by_the_same_ca(ca_folder, monkeypatch):
    first = local_identity()
    monkeypatch.setattr(credentials, "_RENEW_BEFORE", credentials.datetime.timedelta(days=365 * 3))
    renewed = local_identity()
    assert renewed.ca == first.ca and renewed.chain != first.chain and renewed.key != first.key


def test_a_dialogue_lists_the_answers_it_is_made_of(ca_folder, video, tmp_path):
    sign_video(video, "answer", None)
    dialogue = tmp_path / "dialogue.mp4"
    shutil.copy(video, dialogue)
    sign_video(dialogue, "dialogue", None, ingredients=[video])
    assert read_credentials(dialogue).ingredients == ["answer.mp4"]


def test_avatar_verify_prints_the_credentials_and_fails_on_an_unsigned_file(ca_folder, video, make_video):
    sign_video(video, "driver clip", None, source_type=COMPOSITE_SYNTHETIC)
    env_run = dict(capture_output=True, text=True, timeout=120)
    signed = subprocess.run([sys.executable, "-m", "avatar", "verify", str(video)], **env_run)
    assert signed.returncode == 0, signed.stderr
    report = json.loads(signed.stdout)
    assert report["state"] == "Trusted" and report["digital_source_type"] == COMPOSITE_SYNTHETIC
    unsigned = subprocess.run([sys.executable, "-m", "avatar", "verify", str(make_video("plain.mp4"))], **env_run)
    assert unsigned.returncode == 2 and "no content credentials" in unsigned.stderr
