"""A posted service request is kept whole or refused: a parameter longer than the column
that keeps it is a 400 naming it and its maximum, never a value cut to fit."""

from decimal import Decimal

import pytest

from cases.models import (
    ApiRequest,
    Case,
    CaseEvent,
    CaseNumberCounter,
    IdempotencyKey,
)
from departments.models import Category
from tests.cases.open311support import BASE, api_key_fixture, post_request  # noqa: F401

LOCATED = {"service_code": "LAMP", "address_id": "N-01"}


def column_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def media_url(length: int) -> str:
    prefix = "https://example.org/"
    return prefix + "a" * (length - len(prefix))


# (parameter, a value of a given length, the column's length, where the request keeps it)
LIMITED = [
    pytest.param(name, value_of, limit, where, id=name)
    for name, value_of, limit, where in [
        ("address_string", lambda n: "北" * n, column_length(Case, "address"), "case.address"),
        ("phone", lambda n: "1" * n, column_length(Case, "reporter_phone"), "case.reporter_phone"),
        ("device_id", lambda n: "d" * n, column_length(ApiRequest, "device_id"), "device_id"),
        ("account_id", lambda n: "a" * n, column_length(ApiRequest, "account_id"), "account_id"),
        ("media_url", media_url, column_length(ApiRequest, "media_url"), "media_url"),
    ]
]
NAME_LENGTH = column_length(Case, "reporter_name")


def stored(where: str) -> str:
    """The value kept at `where`: a field of the case, or of its logged request."""
    logged = ApiRequest.objects.select_related("case").get(http_status=200)
    owner, _, field = where.rpartition(".")
    return getattr(logged.case if owner == "case" else logged, field)


def assert_only_the_refusal_was_logged(status: int) -> None:
    assert not Case.objects.exists()
    assert not CaseEvent.objects.exists()
    assert not CaseNumberCounter.objects.exists()
    assert not IdempotencyKey.objects.exists()
    logged = ApiRequest.objects.get()
    assert (logged.http_status, logged.case) == (status, None)


def post_located(client, raw_key: str, **fields):
    # With an Idempotency-Key: a refused post must not claim it either.
    return client.post(
        f"{BASE}/requests.json",
        {"api_key": raw_key, **LOCATED, **{k: v for k, v in fields.items() if v is not None}},
        headers={"Idempotency-Key": "retry-me"},
    )


@pytest.mark.parametrize(("name", "value_of", "limit", "where"), LIMITED)
def test_a_parameter_is_refused_one_character_beyond_its_column_and_kept_whole_up_to_it(
    client, world, api_key, name, value_of, limit, where
):
    response = post_located(client, api_key[1], **{name: value_of(limit + 1)})
    assert response.status_code == 400
    assert response.json() == [
        {"code": 400, "description": f"{name} is longer than {limit} characters."}
    ]
    assert_only_the_refusal_was_logged(400)

    response = post_located(client, api_key[1], **{name: value_of(limit)})
    assert response.status_code == 200
    assert stored(where) == value_of(limit)


HALF = NAME_LENGTH // 2


@pytest.mark.parametrize(
    ("too_long", "fits", "kept"),
    [
        # Each part fits the column; with the space between them the name does not.
        pytest.param(
            ("a" * HALF, "b" * HALF),
            ("a" * (HALF - 1), "b" * HALF),
            "a" * (HALF - 1) + " " + "b" * HALF,
            id="spaced",
        ),
        # A Chinese name is kept family name first, unspaced.
        pytest.param(
            ("明" * (HALF + 1), "王" * HALF),
            ("明" * HALF, "王" * HALF),
            "王" * HALF + "明" * HALF,
            id="chinese",
        ),
        pytest.param(
            ("a" * (NAME_LENGTH + 1), None),
            ("a" * NAME_LENGTH, None),
            "a" * NAME_LENGTH,
            id="first_name-alone",
        ),
        pytest.param(
            (None, "王" * (NAME_LENGTH + 1)),
            (None, "王" * NAME_LENGTH),
            "王" * NAME_LENGTH,
            id="last_name-alone",
        ),
    ],
)
def test_a_name_is_refused_naming_both_parts_beyond_its_column_and_kept_whole_up_to_it(
    client, world, api_key, too_long, fits, kept
):
    response = post_located(client, api_key[1], first_name=too_long[0], last_name=too_long[1])
    assert response.status_code == 400
    assert response.json() == [
        {
            "code": 400,
            "description": f"first_name and last_name make a name longer than {NAME_LENGTH}"
            " characters.",
        }
    ]
    assert_only_the_refusal_was_logged(400)

    response = post_located(client, api_key[1], first_name=fits[0], last_name=fits[1])
    assert response.status_code == 200
    assert Case.objects.get().reporter_name == kept


def test_an_over_long_service_code_is_an_unknown_service_whatever_code_it_starts_with(
    client, world, api_key
):
    longest = column_length(Category, "code")
    real = Category.objects.create(
        code="X" * longest, name="最长的代码", accept_hours=Decimal("8"), resolve_days=Decimal("5")
    )
    sent = real.code + "-2"
    response = post_request(client, api_key[1], service_code=sent, address_id="N-01")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": f"service_code {sent} was not found."}]
    assert_only_the_refusal_was_logged(404)
    # The log keeps what fits, marked as cut: never the real code it starts with.
    logged = ApiRequest.objects.get().service_code
    assert logged != real.code and logged == sent[: longest - 1] + "…"
