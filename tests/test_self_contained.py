"""The repository cites no document a reader does not have (specifications, issue numbers).

Every definition the project chose is stated in full where it is used, with the paper's section;
this test fails on a reference to a file outside the repository or to a tracker issue number.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from mplib.repro import repo_root

ROOT = repo_root()
# Spelled in pieces so that this file does not match itself.
_SPEC = "sp" + "ec"
PATTERNS = [
    rf"{_SPEC} `*(mpsae|pursuit|tokensurgeon|darkmatter|assets)",
    rf"{_SPEC} §",
    rf"{_SPEC}\.md",
    r"mpsae\.md",
    rf"shared/{_SPEC}",
    r"(?<![\w/-])issue #[0-9]",
    r"DEVELOPERS\.md",
]
REFERENCE = re.compile("|".join(PATTERNS))


def _tracked_text_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    for name in out.stdout.splitlines():
        path = ROOT / name
        if path.suffix in {".py", ".md", ".rst", ".txt", ".yaml", ".yml", ".toml", ".cfg"} \
                or path.name == "Makefile" or path.suffix == ".mk":
            if path.is_file():
                yield path


def test_pattern_catches_what_it_should():
    assert REFERENCE.search(f"see {_SPEC} § 3.6")
    assert REFERENCE.search("as in " + "issue #" + "3")
    assert REFERENCE.search(f"({_SPEC} `mpsae" + ".md` § 2)")
    assert not REFERENCE.search(f"ToyStream({_SPEC}, seeds)")
    assert not REFERENCE.search("scikit-learn/scikit-learn#33454")


def test_no_reference_to_documents_outside_the_repository():
    hits = []
    for path in _tracked_text_files():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if REFERENCE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not hits, "state the definition in full instead of citing:\n" + "\n".join(hits)
