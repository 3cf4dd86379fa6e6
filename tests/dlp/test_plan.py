"""Redaction plans: replacements per segment path, counts per segment, block, vault; and
the rewritten body through the provider adapters."""

from __future__ import annotations

import json

import pytest

from warden.dlp import DlpProfile, Scanner, segment_label
from warden.dlp.plan import FindingCount
from warden.providers import JSON_STRING, TextSegment, rewrite_request

KEY = b"tenant-key-0123456789abcdef"


def scanner(**entities: str) -> Scanner:
    return Scanner(DlpProfile.model_validate({"entities": entities}), hash_key=KEY)


def seg(path: tuple[str | int, ...], text: str, role: str = "user") -> TextSegment:
    return TextSegment(path, role, text)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        (("messages", 0, "content"), "messages[0].content"),
        (("messages", 2, "content", 1, "text"), "messages[2].content[1].text"),
        (("system",), "system"),
        (("input", 0, "content", 0, "text"), "input[0].content[0].text"),
        (("contents", 0, "parts", 0, "text"), "contents[0].parts[0].text"),
        (("f.req", 1, JSON_STRING, 0, 0), "f.req[1]<json>[0][0]"),
    ],
)
def test_segment_labels(path: tuple[str | int, ...], label: str) -> None:
    assert segment_label(path) == label


def test_same_value_same_number_across_segments() -> None:
    s = scanner(EMAIL_ADDRESS="redact", PHONE_NUMBER="redact")
    segments = [
        seg(("messages", 0, "content"), "You help a@x.io.", "system"),
        seg(("messages", 1, "content"), "Mail a@x.io and b@x.io, call (415) 555-2671."),
        seg(("messages", 2, "content"), "Done: wrote to B@x.io", "assistant"),
    ]
    result = s.scan(segments)
    assert result.replacements == {
        ("messages", 0, "content"): "You help <EMAIL_ADDRESS_1>.",
        (
            "messages",
            1,
            "content",
        ): "Mail <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>, call <PHONE_NUMBER_1>.",
        ("messages", 2, "content"): "Done: wrote to <EMAIL_ADDRESS_2>",
    }
    assert result.findings == (
        FindingCount("EMAIL_ADDRESS", 1, "messages[0].content"),
        FindingCount("EMAIL_ADDRESS", 2, "messages[1].content"),
        FindingCount("PHONE_NUMBER", 1, "messages[1].content"),
        FindingCount("EMAIL_ADDRESS", 1, "messages[2].content"),
    )
    assert not result.blocked and result.vault is None


def test_mask_hash_and_pseudonymize() -> None:
    s = scanner(CREDIT_CARD="mask", EMAIL_ADDRESS="hash", US_SSN="pseudonymize")
    text = "card 4111 1111 1111 1111, mail a@x.io, ssn 219-09-9999"
    result = s.scan([seg(("prompt",), text)])
    new = result.replacements[("prompt",)]
    assert new.startswith("card **** **** **** 1111, mail <EMAIL_ADDRESS:hmac:")
    assert new.endswith(", ssn <US_SSN_1>")
    assert result.vault is not None and result.vault.original("<US_SSN_1>") == "219-09-9999"
    # the hash is the same in a later request, and unreadable
    again = s.scan([seg(("prompt",), "a@x.io")]).replacements[("prompt",)]
    assert again in new and "a@x.io" not in again


def test_block_names_types_and_changes_nothing() -> None:
    s = scanner(AWS_ACCESS_KEY_ID="block", EMAIL_ADDRESS="redact")
    result = s.scan([seg(("messages", 0, "content"), "key AKIA2E0A8F3B244C9986 from a@x.io")])
    assert result.blocked_types == frozenset({"AWS_ACCESS_KEY_ID"})
    assert result.replacements == {} and result.vault is None
    assert FindingCount("AWS_ACCESS_KEY_ID", 1, "messages[0].content") in result.findings
    assert "AKIA" not in repr(result)


def test_hash_without_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no hash key"):
        Scanner(DlpProfile.model_validate({"entities": {"EMAIL_ADDRESS": "hash"}}))


def test_allow_list_and_custom_terms() -> None:
    profile = DlpProfile.model_validate(
        {
            "entities": {"IP_ADDRESS": "redact"},
            "allow_list": ["10.0.0.1"],
            "allow_patterns": [r"192\.0\.2\.\d+"],
            "custom": {
                "PROJECT_CODENAME": {"action": "redact", "deny_list": ["Bluebird"]},
                "EMPLOYEE_ID": {"patterns": [{"name": "emp", "regex": r"\bEMP-\d{6}\b"}]},
                "PART_NO": {"patterns": [{"name": "p", "regex": r"\b[A-Z]\d\b"}]},
            },
        }
    )
    text = "bluebird on 10.0.0.1, 192.0.2.7 and 10.0.0.2 by EMP-123456 on C4"
    s = Scanner(profile.model_copy(update={"allow_list": ("10.0.0.1", "C4")}))
    new = s.scan([seg(("p",), text)]).replacements[("p",)]
    assert new == (
        "<PROJECT_CODENAME_1> on 10.0.0.1, 192.0.2.7 and <IP_ADDRESS_1> by <EMPLOYEE_ID_1> on C4"
    )


def test_rewrite_through_the_openai_adapter() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "I am a@x.io"}]},
        ],
    }
    raw = json.dumps(body).encode()
    segments = [
        seg(("messages", 0, "content"), "Be brief.", "system"),
        seg(("messages", 1, "content", 0, "text"), "I am a@x.io"),
    ]
    result = scanner(EMAIL_ADDRESS="pseudonymize").scan(segments)
    out = json.loads(rewrite_request("openai.chat_completions", raw, result.replacements))
    assert out["messages"][1]["content"][0]["text"] == "I am <EMAIL_ADDRESS_1>"
    assert out["messages"][0] == body["messages"][0] and out["model"] == "gpt-4o"
