"""A decision log with real decisions for the console and report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import EXAMPLES, POLICIES
from mlgate.audit.local import record_subjects
from mlgate.engine import Engine
from mlgate.impact.objects import find_objects
from mlgate.subjects import RequestInfo
from mlgate.timeutil import now_ns

DEPLOYER = "dana.deployer@bank.example"
DAY_NS = 86_400 * 1_000_000_000


def build_audit_db(db: Path) -> Path:
    """Manifests deployed by a person 10 days ago, Kubernetes objects by a bot today."""
    engine = Engine.from_path(POLICIES)
    try:
        person = RequestInfo(username=DEPLOYER, groups=("ml-engineers",), source="manifest")
        bot = RequestInfo(
            username="system:serviceaccount:ci:release-bot",
            groups=("mlops-release-managers",),
            source="manifest",
        )
        old = [o.subject for o in find_objects([str(EXAMPLES / "manifests")], person)]
        new = [o.subject for o in find_objects([str(EXAMPLES / "k8s")], bot)]
        record_subjects(db, engine, old, ts_ns=now_ns() - 10 * DAY_NS)
        record_subjects(db, engine, new)
    finally:
        engine.close()
    return db


def stricter_policies(target: Path) -> Path:
    """The shipped policies with the high-risk AUC minimum raised from 0.85 to 0.90."""
    shutil.copytree(POLICIES, target)
    params = target / "params.yaml"
    params.write_text(
        params.read_text().replace(
            "min: {accuracy: 0.80, auc: 0.85}", "min: {accuracy: 0.80, auc: 0.90}"
        )
    )
    return target
