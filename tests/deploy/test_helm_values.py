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


# The database password (issue 23, item 13). The chart's own values.yaml (not shipped here) sets
# postgresql.postgresqlPassword: test and generatePostgresqlPasswordSecret: true, so values that say nothing protect
# the run history with `test`.
DOCS = REPO_ROOT / "docs" / "operations.md"
CHART_DEFAULTS = {"generatePostgresqlPasswordSecret": True, "postgresql": {"postgresqlPassword": "test"}}
# A literal's value is a word or a double-quoted string ("$(openssl rand ...)" has spaces).
KUBECTL_SECRET = re.compile(r'kubectl create secret generic (\S+)((?:\s+--from-literal=[\w.-]+=(?:"[^"]*"|\S+))+)')


def documented_secrets() -> dict[str, set[str]]:
    """The secrets docs/operations.md tells the operator to create with kubectl: name -> keys."""
    text = DOCS.read_text(encoding="utf-8").replace("\\\n", " ")  # shell line continuations joined
    return {name: set(re.findall(r"--from-literal=([\w.-]+)=", literals))
            for name, literals in KUBECTL_SECRET.findall(text)}


def database_secret() -> str:
    """The documented secret that holds the database password (key postgresql-password, as the chart reads it)."""
    names = [name for name, keys in documented_secrets().items() if "postgresql-password" in keys]
    assert len(names) == 1, f"docs/operations.md should tell how to create one secret with postgresql-password: {names}"
    return names[0]


def plain_passwords(node: object, where: str = "") -> list[str]:
    """Every key naming a password that is given a value in the file itself."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            place = f"{where}.{key}" if where else str(key)
            # A switch (generatePostgresqlPasswordSecret: false) is not a password; text or a number would be.
            written = isinstance(value, str | int | float) and not isinstance(value, bool) and str(value) != ""
            if "password" in str(key).lower() and written:
                found.append(place)
            found += plain_passwords(value, place)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += plain_passwords(item, f"{where}.{index}")
    return found


def password_problems(values: dict, secret: str) -> list[str]:
    """Why these values would not take the database password from `secret` (empty: they do)."""
    problems_found = []
    if values.get("generatePostgresqlPasswordSecret", CHART_DEFAULTS["generatePostgresqlPasswordSecret"]):
        problems_found.append("generatePostgresqlPasswordSecret: the chart makes its own secret from values.yaml")
    if (values.get("global") or {}).get("postgresqlSecretName") != secret:
        problems_found.append(f"global.postgresqlSecretName: Dagster's pods do not read {secret}")
    postgresql = {**CHART_DEFAULTS["postgresql"], **(values.get("postgresql") or {})}  # maps merge, as in Helm
    if postgresql.get("enabled", True) and postgresql.get("existingSecret") != secret:
        problems_found.append(f"postgresql.existingSecret: the bundled server does not read {secret}")
    if postgresql["postgresqlPassword"] == CHART_DEFAULTS["postgresql"]["postgresqlPassword"]:
        problems_found.append("postgresql.postgresqlPassword: the chart's default stays in the release")
    problems_found += [f"{place}: a password written in values.yaml" for place in plain_passwords(values)]
    return problems_found


def test_the_database_password_comes_from_the_secret_the_docs_tell_the_operator_to_create() -> None:
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    secret = database_secret()
    assert password_problems(values, secret) == []
    assert problems(values) == []  # and Helm still accepts the values
    # The server's superuser key too, for the versions of the bundled chart that read it from the same secret.
    assert documented_secrets()[secret] == {"postgresql-password", "postgresql-postgres-password"}
    # The install instructions at the top of values.yaml name the same secret.
    assert f"kubectl create secret generic {secret} " in VALUES.read_text(encoding="utf-8")


def test_the_chart_default_password_appears_nowhere_in_the_values_file() -> None:
    text = VALUES.read_text(encoding="utf-8")
    written = [line for line in text.splitlines() if re.search(r"password\w*\s*:\s*['\"]?test\b", line, re.I)]
    assert written == []


@pytest.mark.parametrize(("change", "expected"), [
    (lambda v: v.update(generatePostgresqlPasswordSecret=True), "generatePostgresqlPasswordSecret"),
    (lambda v: v.pop("generatePostgresqlPasswordSecret"), "generatePostgresqlPasswordSecret"),
    (lambda v: v["global"].update(postgresqlSecretName="dagster-postgresql-secret"), "global.postgresqlSecretName"),
    (lambda v: v["postgresql"].pop("existingSecret"), "postgresql.existingSecret"),
    (lambda v: v["postgresql"].pop("postgresqlPassword"), "postgresql.postgresqlPassword"),
    (lambda v: v["postgresql"].update(postgresqlPassword="s3cret-in-git"), "postgresql.postgresqlPassword"),
])
def test_values_that_would_leave_a_known_or_written_password_are_caught(change, expected: str) -> None:
    """The check is not empty: each way back to the chart's password, or to one written in the file, is named."""
    values = yaml.safe_load(VALUES.read_text(encoding="utf-8"))
    change(values)
    found = password_problems(values, database_secret())
    assert any(problem.startswith(expected) for problem in found), found
