"""Typed exceptions. Library code raises these; only ``cli.py`` renders them."""

from __future__ import annotations


class CurateError(Exception):
    """Root of every error curate raises on purpose. ``hint`` says what to do instead."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class RecipeError(CurateError):
    """A recipe that cannot run: names the file, line, key and what would be valid."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        valid: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        keypart = f"'{key}': " if key else ""
        full = f"{prefix}{keypart}{message}"
        if valid:
            full += f" (valid: {valid})"
        super().__init__(full, hint=hint)
        self.file, self.line, self.key, self.valid = file, line, key, valid


class SchemaError(CurateError):
    """A table or record that does not fit the canonical schema or a named format."""


class InputError(CurateError):
    """Input that cannot be read at all (missing path, unknown format, bad record with on_error=fail)."""


class StageError(CurateError):
    """A stage failed; names the stage and, when known, the row origin."""

    def __init__(self, message: str, *, stage: str, origin: str | None = None, hint: str | None = None):
        where = f" at {origin}" if origin else ""
        super().__init__(f"stage {stage}{where}: {message}", hint=hint)
        self.stage, self.origin = stage, origin


class ModelError(CurateError):
    """A model name or path that cannot be resolved offline."""


class LicenseError(CurateError):
    """A source whose license the recipe does not allow."""


class TrainError(CurateError):
    """Training cannot start or continue (no trained tokens, broken chat template, ...)."""
