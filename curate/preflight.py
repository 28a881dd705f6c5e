"""What ``curate validate`` checks beyond the YAML: the things a run would otherwise trip on later.

``recipe.load`` already checks keys, types, stage names and options. This adds the checks that look
outside the recipe, each cheap and without loading weights (~0.3 s for the quickstart recipe):

- every source path matches at least one readable file (and lies inside ``sources_root`` when set);
- every model name (the train model, and any stage option named ``model`` or ``*_model``) resolves
  offline: a packaged model's package is installed, a folder has a config, a Hugging Face id is cached;
- ``filter.language``'s codes are labels the language-id model can emit (``xx`` is refused, with the
  nearest valid codes).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from typing import Any

from curate.errors import RecipeError
from curate.recipe import Recipe


def check(recipe: Recipe) -> int:
    """Raise the first problem as a CurateError naming the recipe key; return the number of files found."""
    from curate.formats.sources import base_dir_of, expand

    file = str(recipe.path) if recipe.path else "<recipe>"
    line = _lines(recipe)
    n_files = 0
    for i, spec in enumerate(recipe.sources):
        try:
            n_files += len(expand(spec.path, base_dir_of(spec.package, recipe.base_dir), spec.file_type,
                                  root=recipe.root))
        except RecipeError:
            raise
        except Exception as e:  # InputError: not found, no match, outside the root
            raise RecipeError(getattr(e, "message", str(e)), file=file, key=f"sources.{i}.path",
                              line=line(("sources", i, "path")),
                              hint=getattr(e, "hint", None)) from None
    for key, name in _model_refs(recipe):
        _check_model(name, file, key, line(tuple(int(p) if p.isdigit() else p for p in key.split("."))))
    _check_languages(recipe, file)
    return n_files


def _model_refs(recipe: Recipe) -> list[tuple[str, str]]:
    """``(recipe key, model name)`` for every model the recipe names."""
    refs: list[tuple[str, str]] = []
    if recipe.train is not None:
        refs.append(("train.model", str(recipe.train.get("model", "smollm2-135m"))))
    for i, st in enumerate(recipe.stages):
        for k, v in st.params.items():
            if (k == "model" or k.endswith("_model")) and isinstance(v, str):
                refs.append((f"stages.{i}.{st.name}.{k}", v))
    return refs


def _lines(recipe: Recipe) -> Callable[[tuple[Any, ...]], int | None]:
    """YAML line of a key path in the recipe file (None without a file)."""
    if recipe.path is None or not recipe.path.exists():
        return lambda path: None
    from curate.recipe import _load_yaml

    return _load_yaml(recipe.path.read_text(encoding="utf-8"), str(recipe.path))[1].line


def _check_model(name: str, file: str, key: str, line: int | None) -> None:
    from curate.errors import ModelError
    from curate.models import check as check_model

    try:
        check_model(name)
    except ModelError as e:
        raise RecipeError(e.message, file=file, line=line, key=key, hint=e.hint) from None


def _check_languages(recipe: Recipe, file: str) -> None:
    from curate.errors import ModelError
    from curate.pipeline import registry

    for i, st in enumerate(recipe.stages):
        langs = st.params.get("languages")
        if st.name != "filter.language" or not (langs or st.params.get("model_path")):
            continue
        module = sys.modules[registry.get(st.name).__module__]  # wherever the stage lives
        try:
            model = module.load_langid(st.params.get("model_path"))
        except ModelError as e:
            raise RecipeError(e.message, file=file, line=st.line, key=f"stages.{i}.{st.name}.model_path",
                              hint=e.hint) from None
        if not langs:
            continue
        # every label, with its (possibly zero) probability: fasttext-predict has no get_labels()
        every = model.predict("a", k=-1, threshold=-1.0)[0]
        labels = sorted({lab.removeprefix("__label__") for lab in every})
        for code in langs:
            if str(code) not in labels:
                near = difflib.get_close_matches(str(code), labels, n=3)
                raise RecipeError(
                    f"unknown language code {code!r}: the language-id model has {len(labels)} labels",
                    file=file, line=st.line, key=f"stages.{i}.{st.name}.languages",
                    hint=(f"did you mean {' or '.join(repr(n) for n in near)}? " if near else "")
                    + "codes are ISO 639 (en, zh, de, ja, ...)",
                )
