"""The documentation: its links lead somewhere, and docs/options.md names every option the commands print."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecg12.docs import (
    COMMANDS,
    OPTIONS_PAGE,
    REPOSITORY,
    anchors,
    broken_links,
    github_anchor,
    help_text,
    options_page,
    printed_options,
    relative_links,
    section,
)

PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPOSITORY)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_reads_in_five_minutes() -> None:
    """The README is the newcomer's page (issue 24): what belongs to one command or topic goes to docs/."""
    assert len((REPOSITORY / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_github_anchors() -> None:
    assert github_anchor("Classification at the CPU's limit") == "classification-at-the-cpus-limit"
    assert github_anchor("Full size: the 43,101 recordings") == "full-size-the-43101-recordings"
    assert github_anchor("Network (`ecg12/model.py`, the head)") == "network-ecg12modelpy-the-head"
    assert github_anchor("train_model.py --resume") == "train_modelpy---resume"
    assert anchors("# Usage\n## Train\n```\n# not a heading\n```\n### Train\n") == {"usage", "train", "train-1"}


def test_links_in_code_and_web_addresses_are_not_checked() -> None:
    markdown = "[a](a.md#x) ![b](b.png) [web](https://example.org) `[c](c.md)`\n```\n[d](d.md)\n```\n[e](#e)\n"
    assert relative_links(markdown) == ["a.md#x", "b.png", "#e"]


def test_a_missing_file_or_heading_is_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n[fine](other.md#a-section) [here](#page) [gone](missing.md) [moved](other.md#runs) [self](#nothing)\n"
    )
    assert broken_links(page) == [
        f"{page}: missing.md (no such file)",
        f"{page}: other.md#runs (no heading 'runs' in other.md)",
        f"{page}: #nothing (no heading 'nothing' in page.md)",
    ]


def test_the_options_page_holds_each_commands_help_as_its_section() -> None:
    page = options_page({"train_model.py": "usage: train_model.py [--epochs EPOCHS]\n", "driver.py": "usage: d\n"})
    assert section(page, "train_model.py") == "\n```text\nusage: train_model.py [--epochs EPOCHS]\n```\n\n"
    assert printed_options(section(page, "train_model.py")) == {"--epochs"}
    assert printed_options(section(page, "driver.py")) == set()
    assert section(page, "report.py") == ""


def test_printed_options() -> None:
    text = "[--no-amp] [--resume | --overwrite]\n  --cache-dir CACHE_DIR  root (empty: $ECG12_CACHE) max-\nfraction"
    assert printed_options(text) == {"--no-amp", "--resume", "--overwrite", "--cache-dir"}


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_the_options_page_is_current(command: str) -> None:
    """Fails after an option is added until `make docs-options` is run (it starts the command: slow)."""
    documented = section((REPOSITORY / OPTIONS_PAGE).read_text(encoding="utf-8"), command)
    missing = printed_options(help_text(command)) - printed_options(documented)
    assert documented, f"{OPTIONS_PAGE} has no section '## {command}': run make docs-options"
    assert not missing, f"{OPTIONS_PAGE} lacks {sorted(missing)} of {command}: run make docs-options"
