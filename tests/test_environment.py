"""The project's set-up files agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> set[str]:
    """The exact set `make setup` installs: the `dev` extra (the `full` extra repeats some)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return set(extras["dev"]) | set(extras["full"])


def _environment_pins() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return {m.group(1) for line in lines if (m := re.match(r"\s+- (\S+==\S+)\s*$", line))}


def test_every_dependency_is_pinned():
    unpinned = [d for d in _pyproject_pins() if "==" not in d]
    assert not unpinned, f"unpinned dependencies in pyproject.toml: {unpinned}"


def test_the_pinned_set_satisfies_the_loose_requirements():
    """The package's own requirements and the `class` extra are ranges that the pinned set
    meets, so `make setup` is a classroom install too; none of the two pins torch."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(p.split("==") for p in _pyproject_pins())
    loose = [*project["dependencies"], *project["optional-dependencies"]["class"]]
    for requirement in map(Requirement, loose):
        assert requirement.name in pins, f"{requirement.name} is in no pin of the dev extra"
        assert pins[requirement.name] in requirement.specifier, (
            f"{requirement} does not admit the pinned {requirement.name}=={pins[requirement.name]}"
        )
    assert not any(r.startswith("torch==") for r in loose), "torch pinned outside the dev extra"


def test_torch_pinned_to_the_cpu_build_on_disk():
    assert "torch==2.13.0" in _pyproject_pins()


def test_environment_yml_installs_the_same_pins_as_pyproject():
    pyproject, environment = _pyproject_pins(), _environment_pins()
    assert pyproject == environment, (
        f"only in pyproject.toml: {sorted(pyproject - environment)}; "
        f"only in environment.yml: {sorted(environment - pyproject)}"
    )


def test_environment_yml_installs_the_project_itself():
    assert re.search(r"^\s+- -e \.\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_ci_runs_the_readme_test_command():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci


def test_notebooks_are_committed_without_outputs():
    import json

    for nb_path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        with_outputs = [
            i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c.get("outputs")
        ]
        assert not with_outputs, f"{nb_path.name}: cells {with_outputs} have outputs"
        tags = [t for c in nb["cells"] for t in c.get("metadata", {}).get("tags", [])]
        assert "parameters" in tags, f"{nb_path.name}: no cell tagged 'parameters'"
