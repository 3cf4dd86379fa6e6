"""Operators: placeholder numbering, masks, keyed hashes, the vault."""

from __future__ import annotations

import pickle

from warden.dlp.operators import Numbering, PseudonymVault, canonical, hash_tag, mask


def test_numbering_is_by_first_appearance_per_type() -> None:
    n = Numbering()
    assert n.placeholder("EMAIL_ADDRESS", "a@x.io") == "<EMAIL_ADDRESS_1>"
    assert n.placeholder("EMAIL_ADDRESS", "b@x.io") == "<EMAIL_ADDRESS_2>"
    assert n.placeholder("PHONE_NUMBER", "+1 415 555 2671") == "<PHONE_NUMBER_1>"
    assert n.placeholder("EMAIL_ADDRESS", "A@X.io") == "<EMAIL_ADDRESS_1>"  # same address
    assert n.placeholder("PHONE_NUMBER", "+1-415-555-2671") == "<PHONE_NUMBER_1>"


def test_numbering_skips_placeholders_already_in_the_text() -> None:
    n = Numbering(["as I said, <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_3> wrote"])
    assert n.placeholder("EMAIL_ADDRESS", "a@x.io") == "<EMAIL_ADDRESS_2>"
    assert n.placeholder("EMAIL_ADDRESS", "b@x.io") == "<EMAIL_ADDRESS_4>"


def test_mask_keeps_separators_and_the_asked_ends() -> None:
    assert mask("4111 1111 1111 1111", keep_last=4) == "**** **** **** 1111"
    assert mask("219-09-9999", keep_last=4) == "***-**-9999"
    assert mask("abc", keep_last=4) == "**c"  # never more than half in clear
    assert mask("sk-abcdef", keep_first=2, char="#") == "sk-######"


def test_hash_is_stable_per_key_and_differs_across_keys() -> None:
    key, other = b"k" * 32, b"o" * 32
    a = hash_tag("EMAIL_ADDRESS", "John@Example.com", key)
    assert a == hash_tag("EMAIL_ADDRESS", "john@example.com", key)
    assert a.startswith("<EMAIL_ADDRESS:hmac:") and len(a) == len("<EMAIL_ADDRESS:hmac:>") + 8
    assert a != hash_tag("EMAIL_ADDRESS", "john@example.com", other)
    assert a != hash_tag("EMAIL_ADDRESS", "jane@example.com", key)
    assert hash_tag("US_SSN", "219-09-9999", key, 16).endswith(">")
    assert len(hash_tag("US_SSN", "219-09-9999", key, 16)) == len("<US_SSN:hmac:>") + 16


def test_canonical_forms() -> None:
    assert canonical("CREDIT_CARD", "4111-1111 1111 1111") == "4111111111111111"
    assert canonical("IBAN_CODE", "de89 3704") == "DE893704"
    assert canonical("JWT", "AbC") == "AbC"


def test_vault_never_shows_values() -> None:
    vault = PseudonymVault()
    vault.add("<PERSON_1>", "Alice Example")
    vault.add("<PERSON_1>", "someone else")  # first value stays
    assert vault.original("<PERSON_1>") == "Alice Example"
    assert "Alice" not in repr(vault) and "Alice" not in str(vault)
    assert vault.longest == len("<PERSON_1>")
    copy = pickle.loads(pickle.dumps(vault))
    assert copy.original("<PERSON_1>") == "Alice Example"
