"""Agreement between coders, at the side of the pipeline.

* :mod:`.coefficients`: kappa, Fleiss, Krippendorff's alpha, Gwet's AC1, P/R/F1, bootstrap intervals.
* :mod:`.report`: :func:`agreement_report`, every coefficient for every code with intervals.
* :mod:`.spans`: span coding to units (segments, sentences, characters).
* :mod:`.coders`: :func:`compare_coders`, a project's coders (the machine included) compared.
"""

from .coders import Comparison, compare_coders
from .coefficients import (
    CODE,
    CODER,
    UNIT,
    WEIGHT,
    ConfidenceInterval,
    PrecisionRecallF1,
    binary_matrix,
    bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha_nominal,
    percent_agreement,
    precision_recall_f1,
    reliability_matrix,
)
from .report import AgreementReport, agreement_report
from .spans import character_units, spans_to_codings

__all__ = [
    "CODE",
    "CODER",
    "UNIT",
    "WEIGHT",
    "AgreementReport",
    "Comparison",
    "ConfidenceInterval",
    "PrecisionRecallF1",
    "agreement_report",
    "binary_matrix",
    "bootstrap_ci",
    "character_units",
    "cohen_kappa",
    "compare_coders",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha_nominal",
    "percent_agreement",
    "precision_recall_f1",
    "reliability_matrix",
    "spans_to_codings",
]
