"""The install a user does without make: build the wheel, install it into a fresh venv, paint offline.

How, and why this way: the wheel is built (``python -m build --wheel --no-isolation``, from a copy
of the source tree so the checkout gets no ``build/`` or ``*.egg-info``) and installed with pip,
``--no-deps --no-index``, into a brand-new venv made by ``python -m venv --without-pip``. That venv
then gets a ``.pth`` file naming this venv's site-packages, so the wheel's dependencies (torch,
onnxruntime, ...) are found without installing them again. The alternative, ``pip install
torch==2.13.0`` and then the wheel with its dependencies from the index, installs 1.7 GB and took
102 s here (48 s torch from a local file, 54 s the rest from PyPI; README, Install: measured that way
by hand, and that venv painted offline too); this test takes ~20 s on 2 cores, offline. What it does
not check - the dependency list itself - ``make test`` checks anyway, since .venv is built from the
same ``pyproject.toml``.

The ``.pth`` adds a plain folder to ``sys.path``, after the fresh venv's own site-packages, and the
``.pth`` files inside that folder (the editable install's ``/work/main/src``) are not run, so the
``brushwork`` that is imported is the wheel's: the test asserts so. The commands run from a folder
outside the source tree, with an empty weights cache and, where ``unshare`` can make one, in a
network namespace with no network at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "brushwork"
SHIPPED_MODELS = 10


def _source_files() -> set[str]:
    """Every file of the package as the wheel must hold it (``brushwork/...``), code and data."""
    files = set()
    for path in PACKAGE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.add(path.relative_to(PACKAGE.parent).as_posix())
    return files


def _offline() -> list[str]:
    """A prefix that runs a command with no network (``unshare -rn``), or none where it cannot."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"]
    return []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                           str(tree)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("brushwork-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel: Path) -> Path:
    """A fresh venv holding only the wheel; this venv's packages are visible through a .pth."""
    root = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *install],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Only after the install: pip must not see (and offer to replace) the editable brushwork here.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_brushwork_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return root


def _run(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``args`` run from ``cwd`` (outside the tree), offline, with an empty cache and no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(BRUSHWORK_CACHE=str(cwd / "cache"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
               HOME=str(cwd))
    return subprocess.run([*_offline(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_the_code_models_web_page_samples_and_licence(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("brushwork-0.1.0.dist-info/entry_points.txt").decode()
        metadata = archive.read("brushwork-0.1.0.dist-info/METADATA").decode()
    missing = sorted(_source_files() - names)
    assert not missing, f"files of src/brushwork missing from the wheel (pyproject package-data?): {missing}"
    styles = [n for n in names if n.startswith("brushwork/models/") and n.count("/") == 2]
    assert len([n for n in styles if n.endswith(".safetensors")]) == SHIPPED_MODELS
    assert {"brushwork/web/static/index.html", "brushwork/web/static/app.js",
            "brushwork/data/samples/canyon.jpg", "brushwork/data/samples/SOURCES.md",
            # brushwork's own arbitrary-style network (--network brushwork) and its provenance
            "brushwork/models/arbitrary/brushwork.safetensors", "brushwork/models/arbitrary/NOTICE",
            # the Live copies (the browser's Live mode, `apply NAME-live`) and their provenance
            "brushwork/models/arbitrary/brushwork-live.safetensors", "brushwork/models/live/NOTICE"} <= names
    live = [n for n in names if n.startswith("brushwork/models/live/") and n.endswith(".safetensors")]
    assert len(live) == SHIPPED_MODELS
    assert "brushwork-0.1.0.dist-info/licenses/LICENSE" in names
    assert "brushwork = brushwork.cli:main" in entry_points
    assert "License-Expression: MIT" in metadata
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))]


def test_the_installed_cli_paints_offline_outside_the_source_tree(venv: Path, tmp_path: Path):
    python = venv / "bin" / "python"
    where = _run(venv, [str(python), "-c", "import brushwork; print(brushwork.__file__)"], tmp_path)
    assert where.returncode == 0, where.stderr
    imported = Path(where.stdout.strip())
    assert imported.is_relative_to(venv), f"imported {imported}, not the wheel's"

    listed = _run(venv, [str(venv / "bin" / "brushwork"), "models"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "starry-night" in listed.stdout and "village-street" in listed.stdout

    sample = imported.parent / "data" / "samples" / "canyon.jpg"
    done = _run(venv, [str(venv / "bin" / "brushwork"), "apply", "starry-night", str(sample),
                       "-o", str(tmp_path / "x.png"), "--size", "64", "-q"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with Image.open(tmp_path / "x.png") as picture:
        assert picture.format == "PNG" and picture.mode == "RGB" and max(picture.size) == 64
        painted = np.asarray(picture, dtype=np.float32)
    with Image.open(sample) as photo:
        photo = np.asarray(photo.convert("RGB").resize(picture.size, Image.LANCZOS), dtype=np.float32)
    assert np.abs(painted - photo).mean() > 10, "the result is (nearly) the photo: nothing was painted"
    # The cache may get the engine choice and an ONNX copy of the model, never the VGG weights.
    assert not list((tmp_path / "cache").rglob("*vgg*")), "apply with a shipped model needs no VGG"


def test_the_installed_web_app_serves_its_page_models_and_samples(venv: Path, tmp_path: Path):
    script = """
import warnings, pathlib
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
import brushwork
from brushwork.config import WebServiceConfig
from brushwork.web.app import create_app
client = TestClient(create_app(WebServiceConfig(data_dir="web-data")), base_url="http://localhost")
page = client.get("/")
assert page.status_code == 200 and "<html" in page.text.lower(), page.status_code
for asset in ("app.js", "style.css", "favicon.svg"):
    assert client.get("/static/" + asset).status_code == 200, asset
styles = client.get("/api/styles").json()["styles"]
samples = client.get("/api/samples").json()["samples"]
print(pathlib.Path(brushwork.__file__).parent, len(styles), len(samples))
print(" ".join(str(s) for s in styles))
"""
    done = _run(venv, [str(venv / "bin" / "python"), "-c", script], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    where, n_styles, n_samples = done.stdout.splitlines()[0].split()
    assert Path(where).is_relative_to(venv)
    assert int(n_samples) >= 1 and int(n_styles) >= 2
    assert "starry" in done.stdout.splitlines()[1]
