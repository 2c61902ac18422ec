"""Responsible use: consent records for presenters (and, later, content credentials)."""

from avatar.provenance.consent import ConsentRecord, keep_consent, load_consent

__all__ = ["ConsentRecord", "keep_consent", "load_consent"]
