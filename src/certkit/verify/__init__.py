"""Verification: incomplete certification with the bound engines, randomized smoothing
(``certkit.verify.smoothing``) and complete verification (``certkit.verify.complete``)."""

from .certify import CertifyResult, certify, margin_matrix, summarize
from .run import certify_run, make_spec
from .smoothing import Smoothed, SmoothedCertificate, certified_radius, clopper_pearson
from .smoothing_run import smoothing_run

__all__ = ["CertifyResult", "Smoothed", "SmoothedCertificate", "certified_radius", "certify",
           "certify_run", "clopper_pearson", "make_spec", "margin_matrix", "smoothing_run",
           "summarize"]
