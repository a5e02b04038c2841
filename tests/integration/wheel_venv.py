"""The syncgate wheel, built from this checkout and installed into a fresh virtual environment.

The environment is new (``python -m venv``) and has no copy of this repository on its path:
``syncgate`` comes from the wheel alone. The pinned requirements are not downloaded again:
a ``.pth`` file adds the site-packages of the venv running the tests (requirements.txt,
installed by ``make``), and ``pip install --no-index`` proves they satisfy the wheel's
declared dependencies. The build backend (pyproject.toml ``[build-system]``) lives in its own
venv, cached under ``.syncgate/wheel/`` (PyPI is needed once, to install it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_VENV = REPO / ".syncgate" / "wheel" / "build-venv"


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path
    site_packages: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, code: str, *, env: dict[str, str], cwd: Path | None = None) -> str:
        """Run ``python -c code`` in the venv; its stdout (fails the test with stderr on error)."""
        return self.command(["-c", code], env=env, cwd=cwd).stdout

    def command(
        self, args: list[str], *, env: dict[str, str], cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.python, *args], env=env, cwd=cwd or self.venv, capture_output=True, text=True, timeout=600
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
            )
        return done


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without its Python path (``include/`` of this checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(values)
    return env


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of this checkout with the pinned build backend; the checkout gets no build files."""
    backend = _build_venv()
    _pip(backend, ["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(REPO)])
    (wheel,) = out.glob("syncgate-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> InstalledWheel:
    """A new venv holding the wheel, over the pinned requirements of the venv running the tests."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True, env=clean_env(),
        ).stdout.strip()
    )  # fmt: skip
    pinned = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_syncgate_test_pins.pth").write_text("".join(f"{p}\n" for p in sorted(pinned)))
    # --no-index: nothing is downloaded, nothing in the pinned venv is replaced; an unmet
    # dependency of the wheel fails the install.
    _pip(venv, ["install", "--no-index", str(wheel)])
    return InstalledWheel(wheel, venv, purelib)


def _build_venv() -> Path:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    stamp = BUILD_VENV / "requires.txt"
    wanted = "\n".join(requires)
    if not (stamp.is_file() and stamp.read_text() == wanted):
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", "--without-pip", str(BUILD_VENV)], check=True
        )
        _pip(BUILD_VENV, ["install", "--quiet", *requires])
        stamp.write_text(wanted)
    return BUILD_VENV


def _pip(venv: Path, args: list[str]) -> None:
    # pip of the test venv, acting on ``venv``'s interpreter (``pip --python``).
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "--disable-pip-version-check", *args],
        capture_output=True, text=True, env=clean_env(), timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
