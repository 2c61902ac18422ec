"""Synthetic presenter: chat with a trained bot whose replies come back as video of a presenter."""

__version__ = "0.1.0"
