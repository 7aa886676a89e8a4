"""Cross-file checks: what controls.yaml names must exist in params.yaml.

A control that lists a parameter params.yaml does not define, or that applies to (or relaxes
enforcement in) an environment params.yaml does not define, is a typo that would silently
weaken the control: the parameter falls back to a built-in default, the environment never
matches. Each is an error with the ``file:line`` of the name and the closest known spelling.
"""

from __future__ import annotations

from mlgate.policyset.catalogue import Catalogue
from mlgate.policyset.params import parameter_schemas
from mlgate.policyset.validation import UNKNOWN_NAME, Problem, suggest
from mlgate.policyset.yamlfile import LineMap

# Parameters a control may list that are not per-tier values.
STRUCTURAL_PARAMETERS = ("freeze_windows",)


def catalogue_problems(catalogue: Catalogue, environments: list[str]) -> list[Problem]:
    lines = catalogue.lines or LineMap(catalogue.path, {})
    known_params = [*parameter_schemas(), *STRUCTURAL_PARAMETERS]
    problems: list[Problem] = []
    for control in catalogue.controls.values():
        base = f"/controls/{catalogue.index.get(control.id, 0)}"
        for j, name in enumerate(control.parameters):
            if name not in known_params:
                problems.append(
                    Problem(
                        UNKNOWN_NAME,
                        lines.where(f"{base}/parameters/{j}"),
                        f"control {control.id} lists parameter {name!r}, which "
                        "schemas/params.schema.json does not define",
                        suggest(name, known_params),
                    )
                )
        for j, env in enumerate(control.environments):
            if env != "any" and env not in environments:
                pointer = f"{base}/applies_to/environments/{j}"
                problems.append(_environment(control.id, env, environments, lines, pointer))
        for env in control.environment_overrides:
            if env not in environments:
                pointer = f"{base}/enforcement_overrides/environments/{env}"
                problems.append(_environment(control.id, env, environments, lines, pointer))
    return problems


def _environment(
    control: str, env: str, environments: list[str], lines: LineMap, pointer: str
) -> Problem:
    return Problem(
        UNKNOWN_NAME,
        lines.where(pointer),
        f"control {control} names environment {env!r}, which params.yaml does not define "
        f"(known: {', '.join(environments)})",
        suggest(env, environments),
    )
