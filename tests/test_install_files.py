"""environment.yml and workflow/envs/neurodyn.yaml against pyproject.toml: every dependency named under its
conda name with the same version range, the same Python, and channels that hold every package.

A real conda solve needs conda and the channels' servers; these tests check what a solve depends on
that can be read from the files themselves.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ENVIRONMENT = REPO / "environment.yml"
RULE_ENVIRONMENT = REPO / "workflow" / "envs" / "neurodyn.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# PyPI name → conda-forge / bioconda name where they differ
CONDA_NAMES = {
    "torch": "pytorch",
    "mne": "mne-base",  # mne pulls the 3D/Qt stack on conda-forge; mne-base is what pip's mne installs
    "matplotlib": "matplotlib-base",  # without a GUI toolkit, like the PyPI wheel
    "snakemake": "snakemake-minimal",  # the full `snakemake` package adds storage/executor plugins
}
# what an extra of a PyPI requirement adds, as conda packages
EXTRA_PACKAGES = {("snakemake", "reports"): ["pygments"]}
# on bioconda only: the channel list must hold bioconda for these
BIOCONDA = {"snakemake-minimal", "snakemake-executor-plugin-slurm"}
# installed by pip: on neither channel (remfile, pynapple) or only in versions older than required (dandi)
PIP_ONLY = {"remfile", "pynapple", "dandi"}
# the test extra's tools pip installs with `-e .[test]` (pinned formatters, import-linter)
FROM_TEST_EXTRA = {"ruff", "import-linter", "snakefmt"}


def load_environment(path: Path) -> tuple[dict, dict[str, str], list[str]]:
    """The parsed file, its conda packages {name: version spec} and its pip lines."""
    env = yaml.safe_load(path.read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip += entry["pip"]
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", entry.strip())
        assert match, f"{path.name}: cannot read the package spec {entry!r}"
        name, spec = match.groups()
        assert name not in conda, f"{path.name}: {name} is listed twice"
        conda[name] = spec.replace(" ", "")
    return env, conda, pip


def pip_requirements(pip: list[str]) -> dict[str, Requirement]:
    """The pip lines that name a package (not a path or an option)."""
    requirements = {}
    for line in pip:
        if line.startswith("-") or line.startswith(".") or "/" in line:
            continue
        requirement = Requirement(line)
        requirements[requirement.name] = requirement
    return requirements


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


def extra_requirements(extra: str) -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]


def assert_named(requirement: Requirement, conda: dict[str, str], pip: dict[str, Requirement], where: str) -> None:
    """``requirement`` from pyproject is in the conda list (under its conda name, same version range,
    and with the packages its extras add) or, for a pip-only package, in the pip list."""
    name = requirement.name
    if name in PIP_ONLY:
        assert name in pip, f"{where}: {name} (on neither channel) must be in the pip section"
        assert pip[name].specifier == requirement.specifier, f"{where}: {name} {pip[name].specifier} ≠ pyproject"
        assert CONDA_NAMES.get(name, name) not in conda, f"{where}: {name} is in both conda and pip"
        return
    conda_name = CONDA_NAMES.get(name, name)
    assert conda_name in conda, f"{where}: {name} (conda name {conda_name}) is missing"
    assert SpecifierSet(conda[conda_name]) == requirement.specifier, (
        f"{where}: {conda_name} {conda[conda_name]!r} differs from pyproject's {name}{requirement.specifier}"
    )
    assert name not in pip, f"{where}: {name} is on a conda channel and must not come from pip"
    for extra in requirement.extras:
        assert (name, extra) in EXTRA_PACKAGES, f"{where}: no conda packages known for {name}[{extra}]"
        for package in EXTRA_PACKAGES[(name, extra)]:
            assert package in conda, f"{where}: {package} ({name}[{extra}]) is missing"


@pytest.mark.parametrize("path", [ENVIRONMENT, RULE_ENVIRONMENT], ids=["environment.yml", "rule environment"])
def test_every_runtime_dependency_is_named(path):
    _, conda, pip = load_environment(path)
    requirements = pip_requirements(pip)
    for requirement in runtime_requirements():
        assert_named(requirement, conda, requirements, path.name)


def test_environment_names_the_remote_and_test_extras():
    _, conda, pip = load_environment(ENVIRONMENT)
    requirements = pip_requirements(pip)
    for requirement in extra_requirements("remote"):
        assert_named(requirement, conda, requirements, "environment.yml (remote)")
    assert "-e .[test]" in pip, "environment.yml must install neurodyn with its test extra"
    for requirement in extra_requirements("test"):
        if requirement.name == "neurodyn" or requirement.name in FROM_TEST_EXTRA:
            continue
        assert_named(requirement, conda, requirements, "environment.yml (test)")


def test_pip_holds_only_what_the_channels_lack():
    """A package on conda-forge or bioconda installed by pip would bypass the solve."""
    for path in (ENVIRONMENT, RULE_ENVIRONMENT):
        _, _, pip = load_environment(path)
        extra = set(pip_requirements(pip)) - PIP_ONLY
        assert not extra, f"{path.name}: {sorted(extra)} should come from a conda channel"
    declared = {r.name for r in runtime_requirements()} | {
        r.name for extra in ("remote", "test") for r in extra_requirements(extra)
    }
    assert PIP_ONLY <= declared, f"pip-only packages that pyproject no longer needs: {PIP_ONLY - declared}"
    assert FROM_TEST_EXTRA <= {r.name for r in extra_requirements("test")}


def test_snakemake_report_support_is_a_dependency():
    """`snakemake --report` needs pygments: pyproject asks for snakemake's reports extra."""
    (snakemake,) = [r for r in runtime_requirements() if r.name == "snakemake"]
    assert "reports" in snakemake.extras


@pytest.mark.parametrize("path", [ENVIRONMENT, RULE_ENVIRONMENT], ids=["environment.yml", "rule environment"])
def test_python_range_matches_pyproject(path):
    _, conda, _ = load_environment(path)
    assert SpecifierSet(conda["python"]) == SpecifierSet(PYPROJECT["project"]["requires-python"])


@pytest.mark.parametrize("path", [ENVIRONMENT, RULE_ENVIRONMENT], ids=["environment.yml", "rule environment"])
def test_channels_hold_every_package(path):
    env, conda, _ = load_environment(path)
    assert env["channels"] == ["conda-forge", "bioconda", "nodefaults"]
    assert BIOCONDA <= set(conda), "the bioconda packages are those the channel list is for"
    # channel priority is a conda setting, not a key conda reads from an environment file
    assert "channel_priority" not in env
    assert "channel_priority strict" in ENVIRONMENT.read_text()


def test_rule_environment_installs_this_checkout():
    """The rule environment's pip path is relative to the file (conda runs pip from its folder)."""
    _, _, pip = load_environment(RULE_ENVIRONMENT)
    paths = [line for line in pip if line.startswith(".")]
    assert len(paths) == 1
    root = (RULE_ENVIRONMENT.parent / paths[0]).resolve()
    assert root == REPO and tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"] == "neurodyn"


def test_a_missing_dependency_is_reported(tmp_path):
    """The check itself fails when a pyproject dependency is absent from an environment file."""
    env = yaml.safe_load(ENVIRONMENT.read_text())
    env["dependencies"] = [d for d in env["dependencies"] if not (isinstance(d, str) and d.startswith("pytorch"))]
    broken = tmp_path / "environment.yml"
    broken.write_text(yaml.safe_dump(env))
    _, conda, pip = load_environment(broken)
    with pytest.raises(AssertionError, match="torch"):
        for requirement in runtime_requirements():
            assert_named(requirement, conda, pip_requirements(pip), broken.name)
