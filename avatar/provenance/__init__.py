"""Responsible use: consent records for presenters (and, later, content credentials)."""

from avatar.provenance.consent import ConsentRecord, load_consent

__all__ = ["ConsentRecord", "load_consent"]
