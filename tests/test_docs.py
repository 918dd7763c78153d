"""The documentation holds together: a license matching pyproject, a reference page for every
package, and links (in the docs and the README) that lead to files that exist."""

from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

import pcmodel

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_license_file_matches_pyproject():
    # (tomllib arrives with Python 3.11; the line is simple enough to read directly)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', pyproject, re.MULTILINE)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_every_package_has_a_reference_page_linked_from_the_index():
    packages = sorted(m.name for m in pkgutil.iter_modules(pcmodel.__path__) if m.ispkg)
    index = (DOCS / "README.md").read_text()
    for name in packages:
        page = DOCS / "reference" / f"{name}.md"
        assert page.is_file(), f"pcmodel.{name} has no docs/reference/{name}.md"
        assert f"(reference/{name}.md)" in index, f"docs/README.md does not link {name}.md"


#: The reference pages with a table of modules, and their packages. kafka-python's protocol
#: modules, which pcmodel.wire imports, use importlib.resources calls that Python 3.11
#: deprecates: their warnings say nothing about pcmodel's documentation.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    REFERENCED = {page: importlib.import_module(f"pcmodel.{page.stem}")
                  for page in sorted((DOCS / "reference").glob("*.md"))
                  if "## Modules" in page.read_text()}


@pytest.mark.parametrize("page", REFERENCED, ids=lambda p: p.stem)
def test_a_reference_page_lists_every_module_and_every_exported_name(page):
    text = page.read_text()
    package = REFERENCED[page]
    prefix = f"{package.__name__}."
    # Every public module of the package is listed (a subpackage's own modules may be).
    children = {m.name for m in pkgutil.iter_modules(package.__path__, prefix)
                if not m.name.rsplit(".", 1)[1].startswith("_")}
    root = Path(package.__file__).parent
    every = {prefix + ".".join(path.relative_to(root).with_suffix("").parts)
             for path in root.rglob("*.py") if path.name != "__init__.py"}
    every |= {prefix + ".".join(path.parent.relative_to(root).parts)
              for path in root.rglob("*/__init__.py")}
    listed = set(re.findall(r"^\| `(pcmodel\.[\w.]+)` \|", text, re.MULTILINE))
    assert children - listed == set(), f"{page.name}'s module table misses these"
    assert listed - every == set(), f"{page.name}'s module table names modules that are gone"
    exported = re.search(rf"## Importable from `{package.__name__}`\n\n(.*)\n", text)
    if exported is not None:
        names = {name.strip("` ") for name in exported.group(1).split(",")}
        assert names == set(package.__all__), f"{page.name}'s importable names are stale"


def local_links(markdown: Path) -> list[Path]:
    links = []
    for target in LINK.findall(markdown.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        links.append((markdown.parent / target).resolve())
    return links


def test_links_in_the_docs_and_readme_lead_somewhere():
    pages = [ROOT / "README.md", *DOCS.glob("*.md"), *DOCS.glob("reference/*.md")]
    broken = [(page.name, str(link)) for page in pages for link in local_links(page)
              if not link.exists()]
    assert broken == []


def test_readme_points_to_the_learning_path_and_the_reference():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/learning-path.md)" in readme and "(docs/README.md)" in readme
    path = (DOCS / "learning-path.md").read_text()
    assert "notebooks/01_bounded_buffer.ipynb" in path and "exercises/01_condition_buffer" in path
