"""The two ways to install the course (pip: requirements.txt, conda: environment.yml)
must pin exactly the same packages, and the running environment must match them."""

from __future__ import annotations

import importlib.metadata

import yaml

from hnet_utils.settings import REPO_ROOT


def parse_pins(lines: list[str]) -> dict[str, str]:
    """{package: version} from "name==version" lines; comments, blanks and "-e ." are skipped.
    Anything else (an unpinned or loosely pinned requirement) is an error."""
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-e"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"requirement {line!r} is not pinned with =="
        pins[name.strip().lower()] = version.strip()
    return pins


def requirements_pins() -> dict[str, str]:
    return parse_pins((REPO_ROOT / "requirements.txt").read_text().splitlines())


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip_sections) == 1, "environment.yml must have exactly one pip: section"
    return parse_pins(pip_sections[0])


def test_requirements_and_environment_pin_the_same_versions():
    req, env = requirements_pins(), environment_pins()
    assert "torch" in req and "torchvision" in req
    assert req == env


def test_environment_installs_the_package_itself():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict) and "pip" in dep)
    assert "-e ." in pip


def test_parse_pins_rejects_unpinned_requirements():
    assert parse_pins(["# comment", "", "torch==2.0.0  # why", "-e ."]) == {"torch": "2.0.0"}
    try:
        parse_pins(["numpy>=1.0"])
    except AssertionError as err:
        assert "not pinned" in str(err)
    else:
        raise AssertionError("an unpinned requirement was accepted")


def test_installed_versions_match_the_pins():
    """The environment running the tests is the pinned one (local tags like +cu130 aside)."""
    mismatched = {}
    for name, version in requirements_pins().items():
        installed = importlib.metadata.version(name).split("+")[0]
        if installed != version:
            mismatched[name] = f"installed {installed}, pinned {version}"
    assert not mismatched, mismatched
