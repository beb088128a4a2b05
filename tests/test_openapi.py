"""openapi/openapi.json is generated from the app; it must not drift from it."""

from __future__ import annotations

from pathlib import Path

from devtools.openapi_export import document, render

FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_the_committed_document_matches_the_app() -> None:
    assert FILE.read_text() == render(), "run `make openapi` and commit openapi/openapi.json"


def test_every_endpoint_of_the_contract_is_documented() -> None:
    paths = document()["paths"]
    expected = {
        ("/learners/{learner_id}/enrol", "post"): {"202", "400", "401", "404", "409", "413", "422"},
        ("/refresh", "post"): {"202", "400", "401", "404", "413", "422"},
        ("/sync", "post"): {"202", "400", "401", "409", "413", "422"},
        ("/jobs/{job_id}", "get"): {"200", "401", "404", "422"},
        ("/health", "get"): {"200", "503"},
        ("/metrics", "get"): {"200"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)


def test_every_bound_the_api_enforces_is_written_exactly() -> None:
    """Ids are Postgres bigints: the document bounds them (as integers, not rounded floats)."""
    doc = document()
    id_schema = {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2**63}
    for path, name in (
        ("/learners/{learner_id}/enrol", "learner_id"),
        ("/jobs/{job_id}", "job_id"),
    ):
        (param,) = next(iter(doc["paths"][path].values()))["parameters"]
        assert param["name"] == name
        assert {k: param["schema"][k] for k in id_schema} == id_schema
    ids = doc["components"]["schemas"]["RefreshRequest"]["properties"]["learner_ids"]
    assert ids["items"] == id_schema
    assert (ids["minItems"], ids["maxItems"]) == (1, 1000)
    assert "64 KiB" in doc["info"]["description"]
    # The exact integer survives the JSON file: no float on the way.
    assert '"exclusiveMaximum": 9223372036854775808' in FILE.read_text()
