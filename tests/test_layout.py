"""The import rule (``curate/pipeline/stage.py``'s docstring), checked by walking every import with ast.

A failing case names the file, the import and the rule it breaks, so the fix is obvious: move the
helper down to ``text/`` (or the ground floor), or ask the registry for the stage by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "curate"

# The ground floor imports nothing of curate but itself; everyone may import it.
GROUND = ("curate.errors", "curate.schema", "curate.fields", "curate.version", "curate.cache")

# folder or file (relative to curate/) -> (the rule in words, modules it may import besides itself)
RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "text/": ("text/ imports only the ground floor", GROUND),
    "chat/": ("chat/ imports only the ground floor", GROUND),
    "errors.py": ("the ground floor imports only the ground floor", GROUND),
    "schema.py": ("the ground floor imports only the ground floor", GROUND),
    "fields.py": ("the ground floor imports only the ground floor", GROUND),
    "version.py": ("the ground floor imports only the ground floor", GROUND),
    "cache.py": ("the ground floor imports only the ground floor", GROUND),
    "stages/": (
        "stages import pipeline.stage/registry, text, chat, embed, lm, models and the ground floor",
        (*GROUND, "curate.pipeline.stage", "curate.pipeline.registry", "curate.text", "curate.chat",
         "curate.embed", "curate.lm", "curate.models", "curate.stages"),
    ),
    "embed/": (
        "embed/ (embedders, cache, k-means, greedy kernels) imports text, models, pipeline.stage, ground",
        (*GROUND, "curate.text", "curate.models", "curate.pipeline.stage"),
    ),
    "lm/": (
        "lm/ imports chat, models, pipeline.stage and the ground floor",
        (*GROUND, "curate.chat", "curate.models", "curate.pipeline.stage"),
    ),
    "formats/": ("formats/ imports only text/ and the ground floor", (*GROUND, "curate.text")),
}

# Who may import a package at all, whatever the rules above say.
ONLY_FROM: dict[str, tuple[str, tuple[str, ...]]] = {
    "curate.stages": ("nothing imports stages/ except the registry, by name", ("stages/",)),
    "curate.train": ("only app.py and cli/ import train/", ("train/", "app.py", "ablate.py", "cli/")),
    "curate.ablate": ("only cli/ imports ablate.py (the application, like app.py)", ("ablate.py", "cli/")),
}

# Known exceptions, each with its reason. (file relative to curate/, imported module)
ALLOWED: dict[tuple[str, str], str] = {
    ("stages/format/convert.py", "curate.formats.compat"): (
        "convert asks the formats what they can hold (one polars expression, no I/O)"
    ),
    ("embed/lmpool.py", "curate.lm.likelihood"): (
        "the causal-LM embedder uses lm's one CPU thread policy (cpu_threads, torch_threads)"
    ),
    ("recipe.py", "curate.train.config"): (
        "the recipe validates its typed train: block (pydantic only; torch is never imported)"
    ),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute ``curate`` import in ``path``, lazy and TYPE_CHECKING ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "curate"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "curate":
                continue
            # ``from curate.text import utf8`` imports the submodule curate.text.utf8
            subs = [f"{node.module}.{a.name}" for a in node.names]
            if all(_is_module(m) for m in subs):
                out += [(node.lineno, m) for m in subs]
            else:
                out.append((node.lineno, node.module))
    return out


def _is_module(mod: str) -> bool:
    p = ROOT.joinpath(*mod.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _under(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def _own(rel: str) -> str:
    """The package a file belongs to, as a module prefix (``stages/filter/size.py`` -> curate.stages)."""
    top = rel.split("/")[0]
    return "curate." + (top[:-3] if top.endswith(".py") else top)


def _rule_for(rel: str) -> tuple[str, tuple[str, ...]] | None:
    for where, rule in RULES.items():
        if rel == where or (where.endswith("/") and rel.startswith(where)):
            return rule
    return None


def violations(pkg: Path = PKG) -> list[str]:
    """Every import that breaks the rule, as ``file:line imports module: rule``."""
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        rule = _rule_for(rel)
        for line, mod in _imports(path):
            if (rel, mod) in ALLOWED or any(_under(mod, a) and (rel, a) in ALLOWED for a in _parents(mod)):
                continue
            if mod == "curate" or mod in _FACE:
                if not rel.startswith(("cli/", "__")):
                    bad.append(f"curate/{rel}:{line} imports {mod}: only cli/ uses the package face")
                continue
            if _under(mod, _own(rel)):
                continue
            if rule is not None and not any(_under(mod, ok) for ok in rule[1]):
                bad.append(f"curate/{rel}:{line} imports {mod}: {rule[0]}")
                continue
            for pkg_name, (words, who) in ONLY_FROM.items():
                if _under(mod, pkg_name) and not any(rel == w or rel.startswith(w) for w in who):
                    bad.append(f"curate/{rel}:{line} imports {mod}: {words}")
    return sorted(set(bad))


# names defined in curate/__init__.py that are not submodules
_FACE = ("curate.__version__", "curate.load", "curate.stats")


def _parents(mod: str) -> list[str]:
    parts = mod.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]


def test_the_import_rule_holds() -> None:
    bad = violations()
    assert not bad, "import rule broken (see curate/pipeline/stage.py):\n" + "\n".join(bad)


def test_the_rule_is_written_where_stages_are_defined() -> None:
    doc = ast.get_docstring(ast.parse((PKG / "pipeline" / "stage.py").read_text(encoding="utf-8"))) or ""
    for words in ("text/", "stages/", "train/", "registry"):
        assert words in doc


def test_a_wrong_way_import_is_named(tmp_path: Path) -> None:
    """The walker catches lazy imports and names file, line and rule."""
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "k.py").write_text("def f():\n    from curate.models import load_tokenizer\n")
    (tmp_path / "formats").mkdir()
    (tmp_path / "formats" / "r.py").write_text("from curate.stages.filter import size\n")
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "x.py").write_text("import curate.train.trainer\n")
    bad = violations(tmp_path)
    assert "curate/text/k.py:2 imports curate.models: text/ imports only the ground floor" in bad
    assert any(b.startswith("curate/formats/r.py:1 imports curate.stages") for b in bad)
    assert "curate/pipeline/x.py:1 imports curate.train.trainer: only app.py and cli/ import train/" in bad


@pytest.mark.parametrize("stale", ["curate/filters", "curate/mixing", "curate/tagging"])
def test_old_folders_are_gone(stale: str) -> None:
    assert not list((ROOT / stale).glob("*.py"))
