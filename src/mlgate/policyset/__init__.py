"""Loading the policy set: Rego modules, catalogue, parameters, exemptions, schemas."""

from mlgate.policyset.policyset import PolicySet, default_policy_dir, load_policy_set

__all__ = ["PolicySet", "default_policy_dir", "load_policy_set"]
