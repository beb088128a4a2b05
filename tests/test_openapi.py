"""openapi/openapi.json is generated from the app; it must not drift from it."""

from __future__ import annotations

from pathlib import Path

from app.openapi_export import document, render

FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_the_committed_document_matches_the_app() -> None:
    assert FILE.read_text() == render(), "run `make openapi` and commit openapi/openapi.json"


def test_every_endpoint_of_the_contract_is_documented() -> None:
    paths = document()["paths"]
    expected = {
        ("/learners/{learner_id}/enrol", "post"): {"202", "401", "404", "409", "422"},
        ("/refresh", "post"): {"202", "400", "401", "404", "422"},
        ("/sync", "post"): {"202", "400", "401", "409", "422"},
        ("/jobs/{job_id}", "get"): {"200", "401", "404", "422"},
        ("/health", "get"): {"200", "503"},
        ("/metrics", "get"): {"200"},
    }
    for (path, method), statuses in expected.items():
        assert statuses <= set(paths[path][method]["responses"]), (path, method)
