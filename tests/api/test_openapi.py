"""The OpenAPI document and the documentation pages tell the truth: offline assets, the bearer
scheme, real request bodies, ``GET /`` for browsers and clients, 405 with a whole ``Allow``."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from api.openapi import NO_NUL
from api.schemas import STORABLE_CHAR
from tests.support.http import MISSING, PROBLEM

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class _Assets(HTMLParser):
    """Every URL a page loads: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.urls.append(found["src"] or "")
            else:
                self.inline_scripts += 1
        elif tag in ("link", "img") and (found.get("href") or found.get("src")):
            self.urls.append(found.get("href") or found.get("src") or "")


def _assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def doc(client) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


# -- offline documentation ----------------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_every_asset_from_the_service_itself(client, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text  # no CDN, no web font
    assert "https://" not in r.text
    assets = _assets(r.text)
    assert len(assets.urls) >= 2  # the bundle and our start-up script at least
    for url in assets.urls:
        assert not urlsplit(url).netloc, f"{page} loads {url} from another host"
        asset = client.get(urljoin(f"http://testserver{page}", url))
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        assert asset.content, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_runs_no_inline_script_under_a_self_only_policy(client, page: str) -> None:
    r = client.get(page)
    assert _assets(r.text).inline_scripts == 0
    directives = r.headers["content-security-policy"].split(";")
    policy = dict((*d.strip().split(" ", 1), "")[:2] for d in directives)
    assert policy["script-src"] == "'self'"
    assert "http" not in r.headers["content-security-policy"]  # no other origin for anything
    assert policy["connect-src"] == "'self'"


def test_swagger_ui_is_the_packaged_bundle(client) -> None:
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in bundle.content
    assert b"Redoc" in client.get("/docs/assets/redoc.standalone.js").content


# -- the document -------------------------------------------------------------------------


def test_document_declares_a_bearer_scheme(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert set(schemes) == {"bearer", "hookSignature"}


def test_every_authenticated_operation_names_the_bearer_scheme(client, doc) -> None:
    # each documented operation either names the scheme, or answers without a credential
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == [{"bearer": []}]:
                continue
            if operation.get("security") == [{"hookSignature": []}]:
                assert path == "/v1/hooks/{hook_id}", path  # only a webhook delivery is signed
                continue
            url = re.sub(r"\{[^}]+\}", MISSING, path)
            r = client.request(method, url, json={} if method != "get" else None)
            assert r.status_code != 401, f"{method.upper()} {path} needs a credential"
    assert doc["paths"]["/v1/workflows"]["post"]["security"] == [{"bearer": []}]
    assert doc["paths"]["/v1/tenants"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/v1/auth/login"]["post"]


def test_workflow_bodies_are_the_real_definition_schema_in_json_and_yaml(client, doc) -> None:
    schemas = doc["components"]["schemas"]
    published = client.get("/v1/schemas/workflow-definition").json()
    definition = schemas["WorkflowDefinition"]
    assert definition["required"] == published["required"]
    assert set(definition["properties"]) == set(published["properties"])
    assert definition["properties"]["steps"]["items"] == {
        "$ref": "#/components/schemas/WorkflowDefinitionStep"
    }
    # the published schema, plus the boundary's "no NUL" on its free strings
    assert _without_nul_pattern(schemas["WorkflowDefinitionStep"]) == _resolved(
        published["$defs"]["Step"]
    )
    # validate checks any definition (200 with its problems): its body says so
    for path, method, body, yaml in [
        ("/v1/workflows", "post", "WorkflowCreate", "WorkflowDefinition"),
        ("/v1/workflows/validate", "post", "DefinitionCheck", "JsonValue"),
        ("/v1/workflows/{workflow_id}/definition", "put", "DefinitionSubmit", "WorkflowDefinition"),
    ]:
        content = doc["paths"][path][method]["requestBody"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{body}"}
        assert content["application/yaml"]["schema"] == {"$ref": f"#/components/schemas/{yaml}"}
    create = schemas["WorkflowCreate"]
    assert create["required"] == ["name", "definition"]
    assert {"$ref": "#/components/schemas/WorkflowDefinition"} in create["properties"][
        "definition"
    ]["anyOf"]


def _without_nul_pattern(schema: Any) -> Any:
    """``schema`` less what the document adds for the input boundary (``NO_NUL``)."""
    if isinstance(schema, list):
        return [_without_nul_pattern(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _without_nul_pattern(v) for k, v in schema.items()}
    if out.get("pattern") == NO_NUL:
        del out["pattern"]
    if isinstance(out.get("pattern"), str):
        out["pattern"] = out["pattern"].replace("[^" + STORABLE_CHAR[2:-1], "[^")
    if out.get("$ref") == "#/components/schemas/JsonValue" and len(out) > 1:
        del out["$ref"]  # a free value ("with", "output"): the boundary's rules all the way down
    return out


def _resolved(schema: Any) -> Any:
    """A ``$defs`` schema as the document holds it: its references into the components."""
    text = json.dumps(schema)
    return json.loads(
        re.sub(r'"#/\$defs/(\w+)"', r'"#/components/schemas/WorkflowDefinition\1"', text)
    )


def test_name_constraints_the_domain_enforces_are_in_the_schema(client, tenant, doc) -> None:
    name = doc["components"]["schemas"]["WorkflowCreate"]["properties"]["name"]
    assert name["minLength"] == 2
    assert name["maxLength"] == 255
    pattern = re.compile(name["pattern"])
    definition = {"name": "n", "steps": [{"id": "a", "uses": "noop"}]}
    # what the pattern refuses, the API refuses, and the other way round
    for candidate in ["x", "  x  ", "a\x00b", "   ", "ab", " a b "]:
        r = client.post(
            "/v1/workflows",
            json={"name": candidate, "definition": definition},
            headers=tenant.admin_headers,
        )
        assert r.status_code in (201, 422), r.text
        assert (r.status_code == 201) == bool(pattern.search(candidate)), (candidate, r.text)


def test_every_request_string_refuses_nul_in_the_schema(doc) -> None:
    def strings(schema: Any) -> list[dict[str, Any]]:
        if not isinstance(schema, dict):
            return []
        found = [schema] if schema.get("type") == "string" else []
        for child in [*schema.get("anyOf", []), *schema.get("properties", {}).values()]:
            found += strings(child)
        return found

    checked = 0
    for item in doc["paths"].values():
        for operation in item.values():
            schemas = [p["schema"] for p in operation.get("parameters", [])]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media["schema"].get("$ref", "")
                schemas.append(doc["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}))
            for s in (s for schema in schemas for s in strings(schema)):
                if "format" in s or "enum" in s:
                    continue
                checked += 1
                assert not re.search(s["pattern"], "a\x00"), s
    assert checked > 20


# -- GET / --------------------------------------------------------------------------------


def test_a_browser_at_the_root_is_sent_to_the_console(client) -> None:
    r = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
    assert r.status_code in (303, 307)
    assert r.headers["location"] == "/ui/"


def test_an_api_client_at_the_root_is_pointed_at_the_docs(client) -> None:
    for accept in ("application/json", "*/*", None):
        headers = {"Accept": accept} if accept else {}
        r = client.get("/", headers=headers, follow_redirects=False)
        assert r.status_code == 200, accept
        body = r.json()
        assert body["docs"] == "/docs"
        assert body["openapi"] == "/openapi.json"
        assert body["ui"] == "/ui/"
        assert client.get(body["openapi"]).status_code == 200


# -- 405 and Allow ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/workflows", "GET, POST"),
        ("DELETE", "/v1/workflows", "GET, POST"),
        ("OPTIONS", "/v1/users", "GET, POST"),
        ("PUT", f"/v1/users/{MISSING}", "GET, PATCH"),
        ("OPTIONS", f"/v1/installations/{MISSING}", "DELETE, GET, PATCH"),
        ("POST", "/v1/me/preferences/theme", "DELETE, GET, PUT"),
        ("GET", "/v1/workflows/validate", "POST"),  # not GET /v1/workflows/{workflow_id}
        ("DELETE", "/healthz", "GET"),
    ],
)
def test_a_method_the_path_lacks_is_405_with_every_method_it_has(
    client, doc, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["allow"] == allow
    template = re.sub(r"/[0-9a-f-]{36}", "/{id}", path)
    documented = (
        next(
            item for p, item in doc["paths"].items() if re.sub(r"\{[^}]+\}", "{id}", p) == template
        )
        if "/preferences/" not in path
        else doc["paths"]["/v1/me/preferences/{key}"]
    )
    assert sorted(m.upper() for m in documented) == allow.split(", ")


def test_405_comes_before_authentication(client, tenant) -> None:
    # no credential, a wrong one and a right one: the same 405
    for headers in ({}, {"Authorization": "Bearer nope"}, tenant.admin_headers):
        r = client.request("PATCH", "/v1/workflows", headers=headers)
        assert r.status_code == 405, headers.keys()
        assert r.headers["allow"] == "GET, POST"
    assert client.get("/v1/workflows").status_code == 401  # a method it has still authenticates
