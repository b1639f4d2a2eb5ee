"""deploy/values.yaml against the Dagster Helm chart's own schema (deploy/dagster-chart/values.schema.json, a copy
with its provenance): Helm refuses values the schema does not allow, so these must pass before anyone can install.

Helm checks the chart's defaults merged with our values. Maps merge, so a key the schema requires and we leave out
comes from the chart's defaults (not shipped here): those requirements are dropped. Lists replace the defaults whole,
so an item of a list we give (a code location) must have everything the schema requires: those are kept."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from resources.settings import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "dagster-chart" / "values.schema.json"
VALUES = REPO_ROOT / "deploy" / "values.yaml"
# Kubernetes' own object schemas, which the chart's schema points to on the network; here any object passes.
KUBERNETES = re.compile(r'"\$ref": "(https://[^"#]+)#/definitions/([^"]+)"')


def referenced(schema: object) -> set[str]:
    """The $defs a part of the schema points to."""
    text = json.dumps(schema)
    return set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', text))


def as_an_override(schema: dict) -> dict:
    """The schema a values file is held to before Helm merges it over the chart's defaults (see above)."""
    definitions = schema["$defs"]
    whole = set()  # reached through a list's items, so given whole
    pending = {name for part in re.findall(r'"items": (\{[^{}]*\})', json.dumps(schema)) for name in referenced(
        json.loads(part))}
    while pending:
        name = pending.pop()
        if name not in whole:
            whole.add(name)
            pending |= referenced(definitions[name])
    schema = {key: value for key, value in schema.items() if key != "required"}
    schema["$defs"] = {name: (definition if name in whole else
                              {key: value for key, value in definition.items() if key != "required"})
                       for name, definition in definitions.items()}
    return schema


def validator() -> Draft202012Validator:
    text = CHART.read_text(encoding="utf-8")
    documents: dict[str, dict] = {}
    for url, definition in KUBERNETES.findall(text):
        documents.setdefault(url, {"definitions": {}})["definitions"][definition] = {}
    registry = Registry().with_resources(
        (url, Resource(contents=document, specification=DRAFT202012)) for url, document in documents.items())
    return Draft202012Validator(as_an_override(json.loads(text)), registry=registry)


def problems(values: dict) -> list[str]:
    return sorted(f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
                  for error in validator().iter_errors(values))


def test_the_deployment_values_are_valid_for_the_chart() -> None:
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    assert problems(values) == []


@pytest.mark.parametrize(("change", "path"), [
    (lambda v: v["dagsterDaemon"].update(heartbeatTolerence=300), "dagsterDaemon"),
    (lambda v: v["runLauncher"].update(type="K8sRunLaunchr"), "runLauncher.type"),
    (lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"),
     "dagster-user-deployments.deployments.0.port"),
])
def test_a_mistyped_value_is_caught_as_helm_would_catch_it(change, path: str) -> None:
    """The check is not empty: a misspelt key, an unknown launcher or a port as text each fail, named by place."""
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    change(values)
    assert any(problem.startswith(path) for problem in problems(values)), problems(values)
