"""Cost of keeping each decision's masked canonical input in the decision log (for replay by
`mlgate impact`), side by side in one run:

- on the webhook's request path: the audit payload built with no input; with the input
  masked inline (how it was done before the writer deferred it); and as the webhook does it
  now (the payload, the input handed to the writer unmasked);
- what moved to the writer's input thread: masking and serialising one input;
- acknowledgement latency through a real AuditWriter (SQLite, fsync per batch): submit to
  committed, with the input masked inline before the append versus deferred;
- the stored size of one input.

  python bench/bench_audit_inputs.py            # JSON lines: median, p90, p99 per variant
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, percentiles, time_calls

REPO = Path(__file__).resolve().parents[1]
OBJECT = REPO / "examples" / "k8s" / "credit-scorer-isvc.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=3000, help="calls per request-path variant")
    parser.add_argument("--acks", type=int, default=300, help="records per writer variant")
    args = parser.parse_args()

    from mlgate.audit import AuditWriter, Masker, decision_record
    from mlgate.audit.replay_inputs import PAYLOAD_KEY, mask_inputs, split
    from mlgate.engine import Engine
    from mlgate.impact.objects import find_objects
    from mlgate.subjects import RequestInfo

    engine = Engine.default()
    info = RequestInfo(username="dana@bank.example", groups=("mlops-release-managers",))
    (found,) = find_objects([str(OBJECT)], info)
    inputs = [engine.with_card_evidence(d) for d in engine.build_inputs(found.subject)]
    decision = engine.evaluate_all(inputs, found.subject.describe())
    masker = Masker("hash", b"k" * 32)
    handoff: queue.SimpleQueue[object] = queue.SimpleQueue()

    def deferred() -> None:  # what the webhook's request path does now
        handoff.put((split(decision_record(decision, masker))[0], inputs))
        handoff.get_nowait()

    request_path = {
        "request path: record without input": lambda: split(decision_record(decision, masker)),
        "request path: record with input masked inline (before)": lambda: split(
            decision_record(decision, masker, inputs=inputs)
        ),
        "request path: record, input deferred to the writer (now)": deferred,
        "writer input thread: mask and serialise one input": lambda: mask_inputs(inputs, masker),
    }
    for variant, call in request_path.items():
        emit({"bench": "audit_inputs", "variant": variant, "object": OBJECT.name,
              **percentiles(time_calls(call, args.n))})  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        writer = AuditWriter(Path(tmp) / "audit.db", input_masker=masker)
        try:
            ack = {
                "acknowledged: input masked inline before the append (before)": lambda: (
                    writer.submit(decision_record(decision, masker, inputs=inputs)).result(10)
                ),
                "acknowledged: input deferred to the writer (now)": lambda: writer.submit(
                    decision_record(decision, masker), inputs=inputs
                ).result(10),
            }
            for variant, call in ack.items():
                samples = time_calls(call, args.acks, warmup=20)
                writer.flush_inputs()
                emit({"bench": "audit_inputs", "variant": variant, "object": OBJECT.name,
                      **percentiles(samples)})  # fmt: skip
            emit({"bench": "audit_inputs", "variant": "inputs dropped by the writer",
                  "count": writer.inputs_dropped})  # fmt: skip
        finally:
            writer.close()
    stored = decision_record(decision, masker, inputs=inputs)[PAYLOAD_KEY]
    emit({"bench": "audit_inputs", "variant": "stored input size", "bytes": len(stored.encode())})
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
