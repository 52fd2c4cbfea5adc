"""benchmarks/mutation_check.py stays runnable: every curated mutant still applies to the code it changes."""

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import mutation_check  # noqa: E402


def test_every_mutant_applies_once_and_names_existing_tests():
    names = [m.name for m in mutation_check.MUTANTS]
    assert len(names) == len(set(names))
    for m in mutation_check.MUTANTS:
        assert mutation_check.check_applies(m) is None, (m.name, mutation_check.check_applies(m))
        assert m.old != m.new, m.name
        files = [a.split("::")[0] for a in m.tests if a.startswith("tests/")]
        assert files and all((REPO / f).is_file() for f in files), m.name


def test_a_mutant_that_no_longer_applies_is_reported(tmp_path):
    (tmp_path / "dynabert").mkdir()
    (tmp_path / "dynabert" / "arch.py").write_text("nothing to change here\n")
    why = mutation_check.check_applies(mutation_check.MUTANTS[0], tmp_path)
    assert "occurs 0 times" in why
