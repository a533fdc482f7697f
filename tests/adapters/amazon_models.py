"""Validation against Amazon's published models in ../shared/amazon-models (read in place, never
copied).

Swagger 2.0 definitions are JSON Schema draft 4 plus extensions the validator ignores; a definition
is checked as `{"$ref": "#/definitions/Name", "definitions": ...}` so references resolve inside the
model.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev dependencies
import pytest

MODELS_DIR = Path(os.environ.get("SORTYARD_AMAZON_MODELS", "/work/shared/amazon-models"))

MODEL_FILES = {
    "ordersV0": "models/orders-api-model/ordersV0.json",
    "orders2026": "models/orders-api-model/orders_2026-01-01.json",
    "feeds": "models/feeds-api-model/feeds_2021-06-30.json",
    "listings": "models/listings-items-api-model/listingsItems_2021-08-01.json",
    "fbaInventory": "models/fba-inventory-api-model/fbaInventory.json",
    "reports": "models/reports-api-model/reports_2021-06-30.json",
}
SCHEMA_FILES = {
    "listingsFeed": "schemas/feeds/listings-feed-schema-v2.json",
    "listingsFeedReport": "schemas/feeds/listings-feed-processing-report-schema-v2.json",
    "orderChange": "schemas/notifications/OrderChangeNotification.json",
}

_formats = jsonschema.FormatChecker()


@_formats.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def require_models() -> Path:
    """The models folder, or skip the calling test with the reason."""
    if not (MODELS_DIR / MODEL_FILES["ordersV0"]).is_file():
        pytest.skip(f"Amazon's models are not at {MODELS_DIR} (set SORTYARD_AMAZON_MODELS)")
    return MODELS_DIR


@cache
def _load(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((require_models() / relative).read_text(encoding="utf-8"))
    return data


def validate_definition(model: str, definition: str, instance: Any) -> None:
    """Raises jsonschema.ValidationError if `instance` does not match the model's definition."""
    spec = _load(MODEL_FILES[model])
    schema = {"$ref": f"#/definitions/{definition}", "definitions": spec["definitions"]}
    jsonschema.Draft4Validator(schema, format_checker=_formats).validate(instance)


def validate_schema(name: str, instance: Any) -> None:
    schema = _load(SCHEMA_FILES[name])
    jsonschema.Draft7Validator(schema, format_checker=_formats).validate(instance)
