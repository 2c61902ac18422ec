"""Responsible use: consent records for presenters (`consent`) and the content credentials
(C2PA) every video is signed with (`credentials`; owns c2pa and cryptography)."""

from avatar.provenance.consent import ConsentRecord, keep_consent, load_consent

__all__ = ["ConsentRecord", "keep_consent", "load_consent"]
