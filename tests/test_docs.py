"""The documentation holds together: a license matching pyproject, a reference page for every
package, and links (in the docs and the README) that lead to files that exist."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

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
