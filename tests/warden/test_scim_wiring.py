"""SCIM events name the person they changed: issuer + externalId as the subject where the
tenant has one IdP, the userName as e-mail where it is one; group events name nobody."""

from __future__ import annotations

from warden.gateway.wiring.scim import person_of

ISSUER = "https://idp.acme.example"


def test_a_user_event_names_the_person() -> None:
    person = person_of(
        {"user_id": "u1", "user_name": "bob@acme.example", "external_id": "bob"}, ISSUER
    )
    assert person is not None
    assert (person.issuer, person.subject, person.email) == (ISSUER, "bob", "bob@acme.example")
    assert person.auth_method == "scim"


def test_without_a_single_issuer_only_the_email_is_named() -> None:
    """Negative: with several IdPs the identity of record is not known: no subject is
    made up, the e-mail still lets a reviewer find the event."""
    person = person_of(
        {"user_id": "u1", "user_name": "bob@acme.example", "external_id": "bob"}, None
    )
    assert person is not None and person.subject is None and person.issuer is None
    assert person.email == "bob@acme.example"


def test_nothing_to_name() -> None:
    assert person_of({"user_id": "u1", "user_name": "bob"}, None) is None
    assert person_of({"group_id": "g1", "display_name": "llm-users"}, ISSUER) is None


def test_hostile_text_is_fitted() -> None:
    person = person_of({"user_id": "u", "user_name": "x\n@y", "external_id": "a" * 400}, ISSUER)
    assert person is not None and person.subject is not None and len(person.subject) <= 256
    assert person.email is not None and "\n" not in person.email
