"""Verification: incomplete certification with the bound engines (complete verifiers and
randomized smoothing live beside it in later modules)."""

from .certify import CertifyResult, certify, margin_matrix, summarize
from .run import certify_run, make_spec

__all__ = ["CertifyResult", "certify", "certify_run", "make_spec", "margin_matrix", "summarize"]
