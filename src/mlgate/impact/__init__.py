"""Impact analysis: what a proposed policy set would change, replayed on real decisions.

``sources`` loads the two policy sets (directory, git revision, bundle); ``audit_replay`` and
``objects`` produce replayed items from the decision log and from object files; ``compare``
classifies and groups the flips into an ``ImpactReport``; ``render`` prints it.

May import: ``mlgate.audit``, ``mlgate.decide``, ``mlgate.engine``, ``mlgate.policyset``,
``mlgate.report``, ``mlgate.scan``, ``mlgate.subjects`` and ``mlgate.cli.cmd_check`` (its
object-file reader).
"""

from mlgate.impact.compare import ImpactReport, build_report
from mlgate.impact.model import Outcome, ReplayItem

__all__ = ["ImpactReport", "Outcome", "ReplayItem", "build_report"]
