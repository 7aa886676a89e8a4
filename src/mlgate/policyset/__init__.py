"""Loading the policy set: Rego modules, catalogue, parameters, exemptions, schemas.

Owns the files under ``policies/`` and ``schemas/``: loading and validating them (the one
``params.yaml`` reader is ``params``), signed OPA bundles (``bundle``, ``bundle_sign``),
``mlgate policy diff`` (``diff``) and mutation testing of the data files (``mutation``). May
import: ``mlgate.errors``, ``mlgate.shapes``, ``mlgate.rego`` (compiling) and
``mlgate.supplychain`` (trust.yaml); ``mutation`` alone also runs the engine and the shipped
tests, lazily.
"""

from mlgate.policyset.policyset import PolicySet, default_policy_dir, load_policy_set

__all__ = ["PolicySet", "default_policy_dir", "load_policy_set"]
