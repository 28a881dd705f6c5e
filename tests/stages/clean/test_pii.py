"""clean.pii: typed placeholders, PRC ID checksum, counts.

Real PII has no place in test data: the ID number is the sample printed in GB 11643-1999, emails use
the reserved example.com/example.org domains, IPs the documentation ranges of RFC 5737, phone
numbers the fictional 555 exchange and a standard-format PRC mobile number.
"""

from __future__ import annotations

from curate.schema import chat_row, frame, text_row
from curate.stages.clean.pii import PiiCleaner

# GB 11643 sample 11010519491231002X. Check: digits 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 times weights
# 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167;
# 167 mod 11 = 2 -> "10X98765432"[2] = "X". Ending in 1 instead fails the check.
VALID_ID = "11010519491231002X"
INVALID_ID = "110105194912310021"


def _clean(*texts: str, **cfg: object):
    return PiiCleaner(cfg).apply(frame([text_row(t) for t in texts])).kept


def test_id_card_needs_a_valid_checksum() -> None:
    out = _clean(
        f"身份证号{VALID_ID}，请核对。", f"订单号{INVALID_ID}不是身份证", f"身份证:{VALID_ID.lower()}"
    )
    assert out["text"].to_list() == [
        "身份证号<ID_CARD>，请核对。",
        f"订单号{INVALID_ID}不是身份证",
        "身份证:<ID_CARD>",
    ]
    assert out["score_pii_changes"].to_list() == [1, 0, 1]


def test_email_phone_ip_placeholders() -> None:
    out = _clean(
        "联系人：zhang.san@example.com，手机13800138000，备用+86 138-0013-8000。",
        "Call (555) 123-4567 or +44 20 7946 0958; server 192.0.2.10, mail ops@example.org.",
        "座机010-12345678，版本3.11.2，型号ABC13800138000",
    )
    assert out["text"].to_list() == [
        "联系人：<EMAIL>，手机<PHONE>，备用<PHONE>。",
        "Call <PHONE> or <PHONE>; server <IP>, mail <EMAIL>.",
        "座机<PHONE>，版本3.11.2，型号ABC13800138000",  # digits glued to letters are not a phone
    ]
    assert out["score_pii_changes"].to_list() == [3, 4, 1]


def test_kinds_select_what_is_masked_and_messages_are_rewritten() -> None:
    chat = chat_row(
        [("user", "我的手机是13912345678，邮箱li@example.com"), ("assistant", "好的，已记录。")],
        system="客服邮箱 help@example.com",
    )
    res = PiiCleaner({"kinds": ["phone"], "field": "user"}).apply(frame([chat]))
    row = res.kept.row(0, named=True)
    assert row["messages"][0]["content"] == "我的手机是<PHONE>，邮箱li@example.com"
    assert row["system"] == "客服邮箱 help@example.com"  # field user leaves the system prompt
    assert row["id"] == chat["id"]
    assert row["score_pii_changes"] == 1
