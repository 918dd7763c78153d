"""The documentation holds together: a license matching pyproject, a reference page for every
package, links (in the docs and the README) that lead to files that exist, examples that run as
written, and counts and names (exercises, commands, lessons, checks) that match the project."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
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


# --- What the pages claim, checked against the project -----------------------------------------

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
           9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}
EXERCISES = sorted(p for p in (ROOT / "exercises").glob("[0-9][0-9]_*") if p.is_dir())


def test_the_readme_counts_the_exercises_there_are():
    readme = (ROOT / "README.md").read_text()
    said = re.search(r"`exercises/` holds (\w+) classroom exercises", readme)
    assert said is not None, "the README's Exercises section no longer says how many there are"
    assert said.group(1) == NUMBERS[len(EXERCISES)], [p.name for p in EXERCISES]


def test_the_core_page_names_every_subcommand():
    from pcmodel.cli import COMMANDS

    row = next(line for line in (DOCS / "reference" / "core.md").read_text().splitlines()
               if line.startswith("| `pcmodel.cli` |"))
    assert {name for name in COMMANDS if f"`{name}`" not in row} == set()


def test_the_lessons_table_has_a_row_for_every_notebook():
    lines = (ROOT / "notebooks" / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Notebook |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break  # a blank line ends a Markdown table: rows after it are not in it
        table.append(line)
    rows = {re.match(r"\| `(\d\d_\w+)\.ipynb` \|", line).group(1)
            for line in table[2:]}
    lessons = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert rows == lessons


def test_the_pdoc_command_of_the_index_documents_every_module():
    # pdoc walks into the subpackages a package's __all__ names, and no further: the command
    # must name the modules it is to document.
    extract = pytest.importorskip("pdoc.extract")
    text = (DOCS / "README.md").read_text()
    block = next(b for b in re.findall(r"```\n(.*?)```", text, re.DOTALL) if "-o docs/api" in b)
    lines = [line.split("#", 1)[0] if line.startswith("pdoc ") else line
             for line in block.splitlines() if not line.startswith("pip ")]
    script = "\n".join(lines).replace("pdoc ", "printf '%s\\n' ").replace("-o docs/api", "")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    specs = sorted(set(done.stdout.split()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        documented = set(extract.walk_specs(specs))
    public = {m.name for m in pkgutil.walk_packages(pcmodel.__path__, "pcmodel.")
              if not any(part.startswith("_") for part in m.name.split("."))}
    assert public | {"pcmodel"} <= documented, sorted(public - documented)[:10]


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-")
            for r in requirements}


def third_party_imports(source: Path) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return {name for name in names
            if name != "pcmodel" and name not in sys.stdlib_module_names}


@pytest.mark.parametrize("page", ["README.md", "notebooks/README.md"])
def test_the_notebook_install_commands_bring_what_every_lesson_imports(page):
    # Whoever installs as the page says opens every lesson and runs it without a missing module.
    tomllib = pytest.importorskip("tomllib")
    from importlib.metadata import packages_distributions

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    text = (ROOT / page).read_text()
    launch = text.index("jupyter lab notebooks/")
    section = text[text.rindex("\n## ", 0, launch):text.find("\n## ", launch)]
    installed = set()
    for named, packages in re.findall(r'pip install -e "\.\[([\w,-]+)\]"([^`\n]*)', section):
        for extra in named.split(","):
            installed |= requirement_names(extras[extra])
        installed |= requirement_names(re.findall(r'"([^"]+)"', packages))
    distributions = packages_distributions()
    missing = {}
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        for module in third_party_imports(source):
            if module not in distributions:
                pytest.skip(f"{module} is not installed here: its package name is unknown")
            if not requirement_names(distributions[module]) & installed:
                missing.setdefault(source.stem, set()).add(module)
    assert missing == {}, f"{page}: the lessons import what its install commands do not bring"


def checks_of(exercise: Path) -> set[str]:
    return set(re.findall(r"^def (test_\w+)\(", (exercise / "test_graded.py").read_text(),
                          re.MULTILINE))


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name[:2])
def test_every_check_an_exercise_readme_names_exists(exercise):
    checks = checks_of(exercise)
    named = set(re.findall(r"`(test_\w+?)(\*?)`", (exercise / "README.md").read_text()))
    missing = {name + star for name, star in named
               if not (any(c.startswith(name) for c in checks) if star else name in checks)}
    assert missing == set(), f"{exercise.name}'s README names checks its suite does not have"


def test_the_exercises_readme_says_which_suites_have_lint_notes():
    text = " ".join((ROOT / "exercises" / "README.md").read_text().split())
    sentence = next(s for s in re.split(r"(?<=\.) ", text) if "`test_lint_notes`" in s)
    said = set(re.findall(r"\b(\d\d)\b", sentence))
    have = {p.name[:2] for p in EXERCISES if "test_lint_notes" in checks_of(p)}
    assert said == have, sentence



@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name[:2])
def test_an_exercise_readme_points_nowhere_a_hand_out_lacks(exercise):
    # ``pcmodel exercises export`` copies the README without the zoo, the alternatives and the
    # solutions: a path relative to the exercise's folder that leaves it would lead nowhere.
    text = (exercise / "README.md").read_text()
    assert re.findall(r"`\.\./[^`]*`", text) == []


@pytest.fixture(scope="module")
def hand_out(tmp_path_factory) -> Path:
    """What ``pcmodel exercises export`` gives a class."""
    from pcmodel.grading.engine import discover
    from pcmodel.grading.export import export

    target = tmp_path_factory.mktemp("class") / "handout"
    export(target, discover())
    return target


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name[:2])
def test_an_exercise_readme_says_how_to_run_its_checks_in_a_hand_out(exercise, hand_out):
    # A hand-out is the exercises folder itself: from its top folder ``exercises/NN_name`` is
    # not there, ``NN_name`` is. The README a student reads is the hand-out's copy.
    text = (hand_out / exercise.name / "README.md").read_text()
    targets = re.findall(r"\bpytest (\S+) --impl\b", text)
    assert any((hand_out / target / "test_graded.py").is_file() for target in targets), (
        f"{exercise.name}'s README names no pytest command that runs in a hand-out: {targets}")


# --- The examples run as written ---------------------------------------------------------------

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
#: What the explore example calls ``BoundedBuffer``: a student's buffer, here one of the zoo's.
STUDENT_BUFFER = """\
from pcmodel.grading.probes import load_impl
BoundedBuffer = load_impl({path!r}, "BoundedBuffer").BoundedBuffer
"""


def examples() -> list[tuple[str, str]]:
    """(page:line, code) of every Python block of the README and the cluster page that is a
    program on its own (it starts with its imports)."""
    found = []
    for page in (ROOT / "README.md", DOCS / "reference" / "cluster.md"):
        text = page.read_text()
        for block in PYTHON_BLOCK.finditer(text):
            code = block.group(1)
            if code.startswith(("from ", "import ")):
                line = text.count("\n", 0, block.start()) + 2
                found.append((f"{page.name}:{line}", code))
    return found


def run_program(code: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("where, code", examples(), ids=[where for where, _ in examples()])
def test_an_example_of_the_docs_runs_as_written(where, code):
    if "kafka" in code and importlib.util.find_spec("kafka") is None:
        pytest.skip("kafka-python is not installed")
    if "confluent_kafka" in code and importlib.util.find_spec("confluent_kafka") is None:
        pytest.skip("confluent-kafka is not installed")
    if "BoundedBuffer" in code:
        zoo = ROOT / "exercises" / "zoo" / "01_condition_buffer" / "if_instead_of_while.py"
        code = STUDENT_BUFFER.format(path=str(zoo)) + code
    done = run_program(code, timeout=45)
    assert done.returncode == 0, f"{where}:\n{done.stderr}"
    # A reader who copies an example must not meet error lines it does not explain: a client
    # that outlives the listener it talks to, for one, logs the closed connection.
    assert done.stderr == "", f"{where} writes to stderr:\n{done.stderr}"
    if "print(result.failure)" in code:
        assert "Replay it with: pcmodel.sched.explore(" in done.stdout


#: The README's rule for moving a program to kafka-python: the import, and ``broker=`` becomes
#: ``bootstrap_servers=``. Here the cluster is pcmodel's own Kafka listener.
PORTED = """\
import sys
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from pcmodel.topics import Broker

with Broker(group_initial_rebalance_delay_ms=300) as pcmodel_broker, \\
        pcmodel_broker.serve_kafka() as listener:
    names = {**globals(), "BOOTSTRAP": listener.bootstrap_servers}
    exec(sys.argv[1] if len(sys.argv) > 1 else "", names)
    exec(EXAMPLE, names)
    for client in ("producer", "consumer"):
        names[client].close()
    offsets = pcmodel_broker.committed("billing", [TopicPartition("orders", 0)])
    print("committed", {tp.partition: meta.offset for tp, meta in offsets.items() if meta})
"""


def ported(code: str) -> str:
    lines = [line for line in code.splitlines()
             if not line.startswith("from pcmodel.topics import") and
             not line.startswith("broker = Broker(")]
    return "\n".join(lines).replace("broker=broker", "bootstrap_servers=BOOTSTRAP")


@pytest.mark.timeout(120)  # a broker and kafka-python's clients: 9 s on a busy machine
def test_the_readme_topics_examples_carry_over_to_kafka_python():
    if importlib.util.find_spec("kafka") is None:
        pytest.skip("kafka-python is not installed")
    blocks = PYTHON_BLOCK.findall((ROOT / "README.md").read_text())
    first = next(b for b in blocks if b.startswith("from pcmodel.topics import"))
    transaction = next(b for b in blocks if 'transactional_id="billing-0"' in b)
    # The transaction needs the topics and a consumer of the group, as in the README's text.
    setup = ("pcmodel_broker.create_topic('orders', 1); pcmodel_broker.create_topic('receipts', 1)"
             "\nconsumer = KafkaConsumer('orders', bootstrap_servers=BOOTSTRAP, group_id='billing',"
             " enable_auto_commit=False)\nconsumer.poll(timeout_ms=2000)")
    for code, prelude in ((first, ""), (transaction, setup)):
        program = PORTED.replace("exec(EXAMPLE, names)", f"exec({ported(code)!r}, names)")
        try:
            done = subprocess.run([sys.executable, "-c", program, prelude], capture_output=True,
                                  text=True, timeout=25, cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        except subprocess.TimeoutExpired:
            pytest.fail(f"with kafka-python this example hangs:\n{ported(code)}")
        assert done.returncode == 0, f"{ported(code)}\n{done.stderr}"
        if code is transaction:
            assert "committed {0: 8}" in done.stdout, done.stdout
