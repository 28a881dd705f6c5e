"""YAML recipe -> typed ``Recipe``. Errors name the file, line, key and what would be valid.

Recipes are data: parsed with ``yaml.safe_load`` semantics (SafeLoader), never executed. Stage
configs are validated by each stage's own pydantic ``Config``, importing only the stages used.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError, field_validator

from curate.errors import RecipeError
from curate.formats.spec import CHAT_FORMATS, FILE_FORMATS, FORMATS, SourceSpec, StrictModel, check_package

__all__ = [
    "CHAT_FORMATS",
    "FILE_FORMATS",
    "FORMATS",
    "OutputSpec",
    "Recipe",
    "SourceSpec",
    "StageSpec",
    "load",
    "parse",
]


class OutputSpec(StrictModel):
    """Final dataset format(s) and file type written to ``output/``.

    ``shuffle`` (default on) writes the train and eval rows in an order seeded by the recipe's
    ``seed``: mixing groups rows by domain with up-sampled copies side by side, and a reader of the
    first N rows (LLaMA-Factory ``max_samples``, streaming) would otherwise get one domain.
    ``shuffle: false`` keeps the order the stages left.
    """

    format: str | list[str] = "sharegpt"
    file_format: Literal["jsonl", "json", "parquet"] = "jsonl"
    shuffle: bool = True

    @field_validator("format")
    @classmethod
    def _fmt(cls, v: str | list[str]) -> str | list[str]:
        for f in [v] if isinstance(v, str) else v:
            if f not in (*CHAT_FORMATS, "text"):
                near = difflib.get_close_matches(f, (*CHAT_FORMATS, "text"), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"unknown format {f!r}{hint} valid: {', '.join((*CHAT_FORMATS, 'text'))}")
        return v

    @property
    def formats(self) -> list[str]:
        return [self.format] if isinstance(self.format, str) else list(self.format)


class McqSpec(StrictModel):
    """A multiple-choice eval set read from files; ``curate eval`` scores it beside the held-out items."""

    name: str
    path: str | list[str]
    format: Literal["lawbench_mcq", "mcq_jsonl"] = "lawbench_mcq"
    package: str | None = None  # `path` is relative to this installed package's folder
    domain: str = "general"
    system: str | None = None  # an instruction shown before each question
    max_items: int | None = Field(default=100, ge=1)  # per file, a seeded sample
    license: str | None = None

    @field_validator("package")
    @classmethod
    def _installed(cls, v: str | None) -> str | None:
        return check_package(v)


class EvalSpec(StrictModel):
    """What ``curate eval`` measures, after training in ``curate run`` or on its own."""

    after_train: bool = True
    mcq: list[McqSpec] = Field(default_factory=list)
    n_choices: int = Field(default=4, ge=2)  # choices of items built from the held-out split
    max_mcq_items: int | None = Field(default=100, ge=1)  # per set, seeded
    mcq_sets: list[str] | None = None  # score only these sets (held_out = built from the split)
    rows_per_domain: int | None = Field(default=None, ge=1)  # ablate: held-out rows measured per domain
    score: Literal["mean", "sum"] = "mean"  # log-prob of an option: per token, or summed
    max_open_ended: int = Field(default=8, ge=0)  # held-out prompts the adapter answers
    max_new_tokens: int = Field(default=128, ge=1)


class StageSpec(BaseModel):
    """One stage: its registered name, its raw params and the YAML line it came from."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    line: int | None = None
    _config: Any = PrivateAttr(default=None)

    @property
    def config(self) -> Any:
        """The stage's typed Config, built once when the recipe is parsed (see ``built``)."""
        if self._config is None:
            raise RuntimeError(f"stage {self.name!r} has no built config: pass the recipe through built()")
        return self._config


class Recipe(StrictModel):
    """A whole run: sources -> stages -> output (-> train)."""

    name: str
    seed: int = 42
    description: str | None = None
    on_error: Literal["skip", "fail"] = "skip"
    sources: list[SourceSpec]
    stages: list[StageSpec] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    train: dict[str, Any] | None = None
    eval: EvalSpec = Field(default_factory=EvalSpec)
    allowed_licenses: list[str] | None = None
    commercial: bool = False
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Processes for consecutive row stages (a fused segment's shards run in a process pool, "
        "each process with workers // processes threads) and threads for the other stages; 1 runs "
        "everything in this process. Default: every CPU this process may use, with the pool only for "
        "segments holding per-row Python (clean.normalize, filter.language, truncate.history).",
    )
    sources_root: str | None = Field(
        default=None,
        description="Refuse source paths that resolve (symlinks followed) outside this folder, relative "
        "to the recipe's folder. For recipes that come from others; `curate run --sandbox` sets it to "
        "the recipe's folder.",
    )
    executor: str = "local"
    path: Path | None = None
    _train: Any = PrivateAttr(default=None)

    @property
    def train_config(self) -> Any:
        """The typed TrainConfig (the recipe seed unless train: sets one), or None without train:."""
        return built(self)._train if self.train is not None else None

    @field_validator("executor")
    @classmethod
    def _executor(cls, v: str) -> str:
        from curate.pipeline.executors import executor_problem

        problem = executor_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("sources")
    @classmethod
    def _unique(cls, v: list[SourceSpec]) -> list[SourceSpec]:
        seen: set[str] = set()
        for s in v:
            if s.name in seen:
                raise ValueError(f"source name {s.name!r} used twice")
            seen.add(s.name)
        if not v:
            raise ValueError("at least one source is needed")
        return v

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def root(self) -> Path | None:
        """The folder every source must lie in (``sources_root``), or None when paths may go anywhere."""
        if self.sources_root is None:
            return None
        return (self.base_dir / Path(self.sources_root).expanduser()).resolve()


# --- YAML with line numbers -------------------------------------------------------------------


class _Lines:
    """Maps a key path like ('stages', 2, 'filter.length', 'min_chars') to its YAML line."""

    def __init__(self, node: yaml.Node | None):
        self.root = node

    def line(self, path: tuple[Any, ...]) -> int | None:
        node, best = self.root, None
        for part in path:
            if node is None:
                break
            best = node.start_mark.line + 1
            node = self._child(node, part)
        if node is not None:
            best = node.start_mark.line + 1
        return best

    @staticmethod
    def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    return v
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            return node.value[part]
        return None


def _load_yaml(text: str, file: str) -> tuple[Any, _Lines]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else None
        hint = ("recipes and train configs are data: YAML tags that build Python objects (!!python/...) "
                "are refused, never run" if isinstance(e, yaml.constructor.ConstructorError) else None)
        raise RecipeError(
            f"not valid YAML: {getattr(e, 'problem', e)}", file=file, line=line, hint=hint
        ) from None
    return data, _Lines(node)


def _unknown(what: str, bad: str, valid: list[str], *, file: str, line: int | None, key: str) -> RecipeError:
    """The one 'unknown X' error: lists what is valid and suggests the nearest name."""
    near = difflib.get_close_matches(bad, valid, n=1)
    return RecipeError(
        f"unknown {what} {bad!r}",
        file=file,
        line=line,
        key=key,
        valid=", ".join(valid),
        hint=f"did you mean {near[0]!r}?" if near else None,
    )


def _raise_validation(
    err: ValidationError, lines: _Lines, file: str, base: tuple[Any, ...], model: type[BaseModel]
) -> None:
    e = err.errors()[0]
    loc = tuple(e["loc"])
    key = ".".join(str(p) for p in (*base, *loc))
    line = lines.line((*base, *loc))
    if e["type"] == "extra_forbidden":
        owner: Any = model
        for p in loc[:-1]:
            fld = getattr(owner, "model_fields", {}).get(p) if isinstance(p, str) else None
            ann = getattr(fld, "annotation", None) if fld else None
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                owner = ann
            elif isinstance(p, int) and owner is Recipe and loc[0] == "sources":
                owner = SourceSpec
        valid = [k for k in getattr(owner, "model_fields", {}) if k != "path" or owner is not Recipe]
        raise _unknown("key", str(loc[-1]), valid, file=file, line=line, key=key)
    if e["type"] == "missing":
        raise RecipeError("required key is missing", file=file, line=line, key=key)
    raise RecipeError(e["msg"], file=file, line=line, key=key)


def _stage_specs(raw: Any, lines: _Lines, file: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RecipeError("must be a list of stages", file=file, line=lines.line(("stages",)), key="stages")
    out = []
    for i, item in enumerate(raw):
        line = lines.line(("stages", i))
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
        else:
            raise RecipeError(
                "each stage is `- name: {params}` or `- name`",
                file=file,
                line=line,
                key=f"stages.{i}",
            )
        if not isinstance(params, dict):
            raise RecipeError(
                "stage params must be a mapping", file=file, line=line, key=f"stages.{i}.{name}"
            )
        out.append({"name": str(name), "params": params, "line": line})
    return out


def validate_stages(recipe: Recipe, lines: _Lines | None = None, file: str | None = None) -> list[Any]:
    """Build each stage's typed config; errors point at the stage's line and key."""
    from curate.pipeline import registry

    file = file or (str(recipe.path) if recipe.path else "<recipe>")
    configs = []
    for i, spec in enumerate(recipe.stages):
        try:
            cls = registry.get(spec.name)
        except RecipeError as err:
            raise RecipeError(
                f"unknown stage {spec.name!r}", file=file, line=spec.line, key=f"stages.{i}", hint=err.hint
            ) from None
        try:
            spec._config = cls.Config(**spec.params)
            configs.append(spec._config)
        except ValidationError as err:
            e = err.errors()[0]
            loc = tuple(e["loc"])
            key = ".".join(str(p) for p in ("stages", i, spec.name, *loc))
            line = lines.line(("stages", i, spec.name, *loc)) if lines else spec.line
            if e["type"] == "extra_forbidden":
                raise _unknown(
                    f"option for stage {spec.name}:",
                    str(loc[-1]),
                    list(cls.Config.model_fields),
                    file=file,
                    line=line,
                    key=key,
                ) from None
            raise RecipeError(e["msg"], file=file, line=line, key=key) from None
    return configs


def parse(text: str, *, file: str = "<recipe>", path: Path | None = None) -> Recipe:
    """Parse recipe YAML text into a validated Recipe (stages included)."""
    data, lines = _load_yaml(text, file)
    if not isinstance(data, dict):
        raise RecipeError("a recipe is a mapping with name, sources, stages", file=file, line=1)
    unknown_top = [k for k in data if k not in Recipe.model_fields or k == "path"]
    if unknown_top:
        valid = [k for k in Recipe.model_fields if k != "path"]
        raise _unknown(
            "key",
            str(unknown_top[0]),
            valid,
            file=file,
            line=lines.line((unknown_top[0],)),
            key=str(unknown_top[0]),
        )
    data = dict(data)
    data["stages"] = _stage_specs(data.get("stages"), lines, file)
    data.setdefault("name", path.stem if path else None)
    try:
        recipe = Recipe(**data, path=path)
    except ValidationError as err:
        _raise_validation(err, lines, file, (), Recipe)
        raise  # unreachable
    return built(recipe, lines, file)


def built(recipe: Recipe, lines: _Lines | None = None, file: str | None = None) -> Recipe:
    """Build every typed config of ``recipe`` once: each stage's Config and the train config.

    ``parse`` calls it, so a loaded recipe is ready; a Recipe built in Python gets its configs the
    first time it runs. The runner uses these objects and never validates a config again.
    """
    if all(s._config is not None for s in recipe.stages) and (recipe.train is None or recipe._train):
        return recipe
    validate_stages(recipe, lines, file)
    if recipe.train is not None:
        from curate.train.config import TrainConfig  # local import: training deps are heavy

        try:
            recipe._train = TrainConfig(**{"seed": recipe.seed, **recipe.train})
        except ValidationError as err:
            _raise_validation(err, lines, file or str(recipe.path or "<recipe>"), ("train",), TrainConfig)
    return recipe


def load(path: str | Path) -> Recipe:
    """Read and validate a recipe file."""
    p = Path(path)
    if not p.exists():
        raise RecipeError(f"recipe file not found: {p}", file=str(p))
    return parse(p.read_text(encoding="utf-8"), file=str(p), path=p.resolve())
