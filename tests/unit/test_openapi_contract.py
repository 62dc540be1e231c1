"""stack/openapi.yaml is the API's one contract: the template's request models are its schemas,
the local API enforces them as API Gateway does, and the ingress handler's validation agrees
with them on one shared set of cases."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft4Validator
from paystack.domain.errors import InvalidInputError
from paystack.domain.intake import IntakeSettings, parse_request

from paycli.lint.cfn import load_template
from paycli.local.api import Gateway, HttpRequest, RouteTable, body_fits_model
from paycli.local.model import InvokeResult, Route

STACK = Path(__file__).resolve().parents[2] / "stack"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
SETTINGS = IntakeSettings(max_amount_minor=1_000_000, ttl_seconds=86_400, fingerprint_key=b"k")
SCHEMA_OF = {
    "card": "CardPaymentRequest",
    "bank": "BankPaymentRequest",
    "wallet": "WalletPaymentRequest",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return dict(yaml.safe_load((STACK / "openapi.yaml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, findings = load_template((STACK / "template.yaml").read_text(encoding="utf-8"))
    assert loaded is not None, findings
    return loaded


def _api_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`METHOD path` -> the Api event's properties, for every function."""
    events = {}
    for resource in template["Resources"].values():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            if event.get("Type") == "Api":
                props = event["Properties"]
                events[f"{props['Method'].upper()} {props['Path']}"] = props
    return events


def test_the_template_models_are_the_openapi_request_schemas(
    openapi: dict[str, Any], template: dict[str, Any]
) -> None:
    """Every request model in the template is the document's schema of the same name,
    verbatim, and each is a valid draft-4 schema (what API Gateway models are)."""
    schemas = openapi["components"]["schemas"]
    models = template["Resources"]["PaymentsApi"]["Properties"]["Models"]
    assert set(models) == set(SCHEMA_OF.values())
    for name, model in models.items():
        assert model == schemas[name], f"{name} drifted from stack/openapi.yaml"
        Draft4Validator.check_schema(model)


def test_every_operation_is_a_template_route_with_its_model(
    openapi: dict[str, Any], template: dict[str, Any]
) -> None:
    """The document's operations are exactly the template's Api events; each POST validates its
    body with the model the document names for it."""
    events = _api_events(template)
    operations = {
        f"{verb.upper()} {path}": op
        for path, item in openapi["paths"].items()
        for verb, op in item.items()
    }
    assert set(operations) == set(events)
    for key, op in operations.items():
        body = op.get("requestBody")
        if body is None:
            assert "RequestModel" not in events[key]
            continue
        ref = body["content"]["application/json"]["schema"]["$ref"]
        model = events[key]["RequestModel"]
        assert model["Model"] == ref.rsplit("/", 1)[1]
        assert model["Required"] is True
        assert model["ValidateBody"] is True


def _valid(method: str) -> dict[str, Any]:
    details = {
        "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        "bank": {"iban": "DE89370400440532013000"},
        "wallet": {"wallet_id": "wal_12345678"},
    }[method]
    return {"amount_minor": 1250, "currency": "USD", "account_id": "acc_1", method: details}


def _changed(method: str, path: str, value: Any) -> dict[str, Any]:
    """The valid body with `path` ("card.cvc") set to `value` (or removed for REMOVE)."""
    body = copy.deepcopy(_valid(method))
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is REMOVE:
        target.pop(leaf)
    else:
        target[leaf] = value
    return body


REMOVE = object()

# Bodies whose shape the contract refuses: the schema says no, and so must ingress (400).
SHAPE_ERRORS: list[tuple[str, Any]] = [
    ("card", _changed("card", "amount_minor", 0)),
    ("card", _changed("card", "amount_minor", 12.5)),
    ("card", _changed("card", "amount_minor", "1250")),
    ("card", _changed("card", "amount_minor", True)),
    ("card", _changed("card", "amount_minor", REMOVE)),
    ("card", _changed("card", "currency", "usd")),
    ("card", _changed("card", "currency", "USDX")),
    ("card", _changed("card", "account_id", "")),
    ("card", _changed("card", "account_id", "a" * 65)),
    ("card", _changed("card", "account_id", "acc 1")),
    ("card", _changed("card", "extra", 1)),
    ("card", _changed("card", "bank", {"iban": "DE89370400440532013000"})),
    ("card", _changed("card", "card", REMOVE)),
    ("card", _changed("card", "card", "4242424242424242")),
    ("card", _changed("card", "card.number", 4242424242424242)),
    ("card", _changed("card", "card.number", "4242 4242 4242 4242")),
    ("card", _changed("card", "card.number", "42424242")),
    ("card", _changed("card", "card.exp_month", 13)),
    ("card", _changed("card", "card.exp_month", "12")),
    ("card", _changed("card", "card.exp_year", 2030.0)),
    ("card", _changed("card", "card.cvc", 123)),
    ("card", _changed("card", "card.cvc", "12")),
    ("card", _changed("card", "card.cvc", REMOVE)),
    ("card", _changed("card", "card.nickname", "x")),
    ("bank", _changed("bank", "bank.iban", 12)),
    ("bank", _changed("bank", "bank.iban", "DE89-3704")),
    ("bank", _changed("bank", "bank.bic", "X")),
    ("bank", _changed("bank", "bank", REMOVE)),
    ("wallet", _changed("wallet", "wallet.wallet_id", "wallet_1")),
    ("wallet", _changed("wallet", "wallet.wallet_id", "wal_1")),
    ("wallet", _changed("wallet", "wallet.pin", "0000")),
    ("wallet", []),
    ("wallet", "a string"),
    ("wallet", None),
]

# Bodies of the right shape: the schema accepts them; ingress accepts the first group and
# refuses the second for rules no JSON schema can say (Luhn, expiry, limit, decimals).
GOOD: list[tuple[str, Any]] = [
    ("card", _valid("card")),
    ("bank", _valid("bank")),
    ("bank", _changed("bank", "bank.iban", "de89 3704 0044 0532 0130 00")),
    ("wallet", _valid("wallet")),
    ("card", _changed("card", "currency", "JPY")),
]
RULE_ERRORS: list[tuple[str, Any]] = [
    ("card", _changed("card", "card.number", "4242424242424241")),
    ("card", _changed("card", "card.exp_year", 2020)),
    ("card", _changed("card", "amount_minor", 10**12)),
    ("card", _changed("card", "currency", "ZZZ")),
    ("bank", _changed("bank", "bank.iban", "DE00370400440532013000")),
]


def _ingress_accepts(method: str, body: Any) -> bool:
    try:
        parse_request(method, body, SETTINGS, NOW)
    except InvalidInputError:
        return False
    return True


def _schema(template: dict[str, Any], method: str) -> dict[str, Any]:
    models = template["Resources"]["PaymentsApi"]["Properties"]["Models"]
    return dict(models[SCHEMA_OF[method]])


@pytest.mark.parametrize(("method", "body"), SHAPE_ERRORS)
def test_a_shape_the_contract_refuses_is_refused_by_both(
    template: dict[str, Any], method: str, body: Any
) -> None:
    model = _schema(template, method)
    assert not Draft4Validator(model).is_valid(body)
    assert not body_fits_model(json.dumps(body).encode(), model)
    assert not _ingress_accepts(method, body)


@pytest.mark.parametrize(("method", "body"), GOOD + RULE_ERRORS)
def test_a_shape_the_contract_accepts_passes_the_model(
    template: dict[str, Any], method: str, body: Any
) -> None:
    """The schema is never stricter than ingress: every good body passes it (and ingress); the
    rule errors pass it and only ingress refuses them."""
    model = _schema(template, method)
    assert body_fits_model(json.dumps(body).encode(), model)
    assert _ingress_accepts(method, body) == ((method, body) in GOOD)


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"\xff\xfe", b'{"amount_minor": NaN}', b"[" * 5000, b"null"]
)
def test_bodies_that_are_not_json_objects_do_not_fit(raw: bytes) -> None:
    assert not body_fits_model(raw, {"type": "object"})


class _Recorder:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        self.bodies.append(json.loads(payload)["body"])
        return InvokeResult(json.dumps({"statusCode": 202, "body": "{}"}).encode())


def test_the_local_api_refuses_a_body_outside_its_model_as_api_gateway_does(
    template: dict[str, Any],
) -> None:
    """400 {"message": "Invalid request body"} (BadRequestException) before the handler is
    invoked; a body that fits goes through. (The local stack skipped RequestModel.)"""
    route = Route("POST", "/payments/card", "v1", "Ingress", "NONE", _schema(template, "card"))
    recorder = _Recorder()
    gateway = Gateway(recorder, "us-east-1", "k", "s", "123456789012", RouteTable([route]))

    def post(body: Any) -> Any:
        raw = json.dumps(body).encode()
        return gateway.handle(HttpRequest("POST", "/v1/payments/card", [], raw, "127.0.0.1"))

    refused = post(_changed("card", "card.nickname", "x"))
    assert refused.status == 400
    assert json.loads(refused.body) == {"message": "Invalid request body"}
    assert ("x-amzn-ErrorType", "BadRequestException") in refused.headers
    assert recorder.bodies == []
    assert post(_valid("card")).status == 202
    assert len(recorder.bodies) == 1
