"""The documentation stays true to the repository: every relative link resolves (a file, and
a heading when it names one), and every command the README shows names a real script or
`kws` verb and parses with that verb's own options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kws.cli import VERBS, build_parser

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "export" / "README.md",
         *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "recipes").glob("*/README.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:kws |scripts/|recipes/|python scripts/)[^`]*)`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text())
            if not re.match(r"[a-z]+:", t)]   # http:, https:, mailto: are not checked here


def test_docs_pages_exist_and_the_readme_is_short():
    for name in ("training", "wakeword", "evaluation", "devices", "microphone",
                 "reliability", "benchmarks", "results", "synthetic-speech"):
        assert (REPO / "docs" / f"{name}.md").is_file(), name
    for recipe in (REPO / "recipes").iterdir():
        if recipe.is_dir():
            assert (recipe / "README.md").is_file(), recipe.name
    assert len((REPO / "README.md").read_text().splitlines()) <= 150


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_relative_links_resolve(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.relative_to(REPO)}: link {target} leads nowhere"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), \
                f"{page.relative_to(REPO)}: {target}: no heading #{anchor} in {dest.name}"


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line:
                commands.append(line)
    return commands + INLINE.findall(text)


def test_docs_readme_commands_name_real_scripts_and_verbs():
    commands = readme_commands()
    assert len(commands) >= 10
    for command in commands:
        words = shlex.split(command.replace("|", " "))
        if words[0] == "python":
            words = words[1:]
        if words[0] == "kws":
            assert words[1] in VERBS, f"README: {command}: no kws verb {words[1]!r}"
        else:   # a placeholder in capitals (recipes/NAME/run.sh) stands for any name
            pattern = re.sub(r"\b[A-Z]+\b", "*", words[0])
            assert any(p.is_file() for p in REPO.glob(pattern)), \
                f"README: {command}: no file {words[0]}"


def test_docs_readme_kws_commands_in_code_blocks_parse():
    """The commands a reader copies (code blocks, not the tables' placeholders) parse with
    the verb's own options."""
    text = (REPO / "README.md").read_text()
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("kws "):
                argv = shlex.split(line)[1:]
                build_parser(argv[0]).parse_args(argv)
