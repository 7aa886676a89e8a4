"""Promotion-gate evidence, computed offline from data files (``mlgate gate``, CI).

Owns reading data files (``datafiles``: CSV, NumPy, Parquet into typed columns), the
statistics (``drift``: PSI and Kolmogorov-Smirnov/chi-square with p-values from
``scipy.stats`` via ``pvalues``; ``fairness``; ``performance``) and their composition into the
``evidence`` section of the canonical input (``evidence.compute_gate_evidence``). It computes
numbers; whether they pass is the policy's decision (``policies/controls/promotion.rego``).

May import: ``mlgate.errors``, ``mlgate.policyset`` (params.yaml), numpy, and scipy only
inside ``pvalues`` (the ``mlgate[gates]`` extra: the webhook image does not need it).
Must not import the supply chain, rego, server or cli.
"""
