"""What a source is and which formats exist: the names the readers, the writers and the recipe share.

``formats/`` owns them so a reader never imports the recipe; ``curate.recipe`` re-exports them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHAT_FORMATS = ("alpaca", "sharegpt", "openai", "prompt_response_history", "canonical")
FORMATS = ("auto", *CHAT_FORMATS, "text")
FILE_FORMATS = ("jsonl", "json", "parquet")


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo in a recipe never passes silently."""

    model_config = ConfigDict(extra="forbid")


class SourceSpec(StrictModel):
    """One raw corpus: where it is, how to read it, and what it is (domain, task, license)."""

    name: str
    path: str | list[str]
    format: Literal[
        "auto", "alpaca", "sharegpt", "openai", "prompt_response_history", "canonical", "text"
    ] = "auto"
    columns: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, str] = Field(default_factory=dict)
    domain: str = "general"
    task: str | None = None
    license: str | None = None
    terms: str | None = None
    text_split: Literal["file", "paragraph", "line"] = "file"
    text_field: str = "text"
    file_type: Literal["auto", "jsonl", "json", "parquet", "csv", "tsv", "text", "markdown", "hf"] = "auto"
    limit: int | None = Field(default=None, ge=1)
    drop_leading_assistant: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(ch in v for ch in "/\\ "):
            raise ValueError("must be non-empty, without spaces or slashes")
        return v
