"""Cost of keeping each decision's masked canonical input in the decision log (for replay by
`mlgate impact`): the audit payload built on the webhook's request path, with and without the
input, side by side in one run, plus the stored size.

  python bench/bench_audit_inputs.py            # JSON lines: median, p90, p99 per variant
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles, time_calls

REPO = Path(__file__).resolve().parents[1]
OBJECT = REPO / "examples" / "k8s" / "credit-scorer-isvc.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=3000, help="calls per variant")
    args = parser.parse_args()

    from mlgate.audit import Masker, decision_record
    from mlgate.audit.replay_inputs import PAYLOAD_KEY, split
    from mlgate.engine import Engine
    from mlgate.impact.objects import find_objects
    from mlgate.subjects import RequestInfo

    engine = Engine.default()
    info = RequestInfo(username="dana@bank.example", groups=("mlops-release-managers",))
    (found,) = find_objects([str(OBJECT)], info)
    inputs = [engine.with_card_evidence(d) for d in engine.build_inputs(found.subject)]
    decision = engine.evaluate_all(inputs, found.subject.describe())
    masker = Masker("hash", b"k" * 32)
    for variant, kept in (("record without input", None), ("record with masked input", inputs)):
        samples = time_calls(
            lambda kept=kept: split(decision_record(decision, masker, inputs=kept)), args.n
        )
        emit(
            {
                "bench": "audit_inputs",
                "variant": variant,
                "object": OBJECT.name,
                **percentiles(samples),
            }
        )
    stored = decision_record(decision, masker, inputs=inputs)[PAYLOAD_KEY]
    emit({"bench": "audit_inputs", "variant": "stored input size", "bytes": len(stored.encode())})
    engine.close()


if __name__ == "__main__":
    main()
