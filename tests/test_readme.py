"""The README works as written: every command in its fenced ``sh`` blocks, and its Python examples.

Each ``sh`` line (continuations joined, comments dropped, ``a && b`` split) is one command line. A
``brushwork`` command is run through ``brushwork.cli.main`` in a fresh folder of its own that holds
the README's placeholders, made from the bundled samples: ``photo.jpg``, ``painting.jpg``, ``a.jpg``,
``b.jpg``, ``my_painting.jpg``, ``mask.png`` (black left, white right), ``photos/``,
``paintings/``, ``art/``, ``clip.mp4`` (a 4-frame pan
over the canyon), ``shop.csv`` and ``my_style/model.safetensors`` (a shipped model). The only
changes made to a command are tiny sizes and step counts (``tiny``); then its exit code must be 0 and
its outputs must exist. A command that cannot run in a test is listed in ``NOT_RUN`` with the reason;
a README command that is neither run nor listed fails ``test_every_command_is_run_or_listed``, and
so does a listed command the README no longer has. Commands that train get a ``photos/`` of 9 crops
(training refuses fewer than 8), and outputs never collide with placeholders (``-o my_style/``).

Time on this 2-core machine: the whole file ~3 min at load 3, 8 min at load 15 (the Python examples,
which train and evaluate 3 methods on those 9 photos, are the longest); ``-m "not slow"``: 7 s.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import brushwork
from brushwork.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLES = ROOT / "src" / "brushwork" / "data" / "samples"
SIZE = "64"

#: Commands the test does not run, each with the reason (the words as the shell passes them: quotes
#: removed, comments dropped).
NOT_RUN: dict[str, str] = {
    "make demo": "builds .venv and runs a minute of Gatys: the stylize commands below run its code path",
    "make test": "runs this test suite",
    "python3 -m venv .venv": "a venv: tests/test_install.py makes a fresh one",
    ". .venv/bin/activate": "shell state",
    "pip install torch==2.13.0": "installs from the network (tests/test_install.py installs the wheel)",
    "pip install .": "installs from the network: tests/test_install.py installs the same build, the wheel",
    "pip install build": "installs from the network (build is in the dev extra)",
    "python -m build --wheel": "tests/test_install.py builds the wheel",
    "pip install dist/brushwork-0.1.0-py3-none-any.whl": "tests/test_install.py installs the wheel it built",
    "pip install .[cluster]": "installs from the network (Ray is in the dev extra the tests run with)",
    "pip install -e .[dev]": "installs from the network (make test does it)",
    "brushwork serve": "blocks until stopped: tests/test_web_reliability.py starts the CLI server",
    "docker compose up": "needs Docker: builds the image",
    "RAY_AUTH_MODE=token brushwork batch photos/ -o styled/ --model starry-night --address auto":
        "joins a running Ray cluster",
}

#: Subcommands run in-process; batch and evaluate --engine local share one Ray instance.
RUNNABLE = {"stylize", "apply", "export", "train", "models", "evaluate", "batch", "weights"}
SLOW = {"stylize", "train", "evaluate", "batch"}


# --- reading the README ------------------------------------------------------------------------
def _blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def command_lines() -> list[list[list[str]]]:
    """Every sh command line as its ``&&``-separated commands, each a list of words."""
    lines = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            commands, current = [], []
            for word in words:
                if word == "&&":
                    commands.append(current)
                    current = []
                else:
                    current.append(word)
            if current:
                commands.append(current)
            if commands:
                lines.append(commands)
    return lines


def _key(command: list[str]) -> str:
    return " ".join(command)


def _runnable(command: list[str]) -> bool:
    return command[0] == "brushwork" and len(command) > 1 and command[1] in RUNNABLE


RUN = [line for line in command_lines() if all(_runnable(c) and _key(c) not in NOT_RUN for c in line)]


def test_every_command_is_run_or_listed():
    seen = set()
    for line in command_lines():
        for command in line:
            seen.add(_key(command))
            assert _key(command) in NOT_RUN or (_runnable(command) and line in RUN), (
                f"README command neither run by this test nor listed in NOT_RUN: {_key(command)}")
    stale = sorted(set(NOT_RUN) - seen)
    assert not stale, f"NOT_RUN lists commands the README no longer has: {stale}"
    assert len(RUN) >= 20, "the README's sh blocks were not found"


# --- the placeholders ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def placeholders(tmp_path_factory) -> Path:
    """One folder of every README placeholder, copied into each command's fresh folder."""
    from support.clips import pan, write_video

    root = tmp_path_factory.mktemp("placeholders")
    canyon = Image.open(SAMPLES / "canyon.jpg").convert("RGB")
    shutil.copy(SAMPLES / "canyon.jpg", root / "photo.jpg")
    for name, sample in [("painting.jpg", "starry_night.jpg"), ("a.jpg", "starry_night.jpg"),
                         ("b.jpg", "great_wave.jpg"), ("my_painting.jpg", "great_wave.jpg")]:
        shutil.copy(SAMPLES / sample, root / name)
    (root / "photos").mkdir()
    canyon.resize((96, 64)).save(root / "photos" / "canyon.jpg")
    ImageOps.mirror(canyon).crop((0, 0, canyon.width // 2, canyon.height // 2)).resize((96, 64)).save(
        root / "photos" / "canyon_detail.jpg")
    # Training refuses fewer than 8 photos: commands that train get a photos/ of 9 crops (8 + 1 held out).
    (root / ".training_photos").mkdir()
    for i in range(9):
        view = canyon if i % 2 == 0 else ImageOps.mirror(canyon)
        left, top = (i % 4) * canyon.width // 8, (i // 4) * canyon.height // 6
        view.crop((left, top, left + canyon.width // 2, top + canyon.height // 2)).resize((96, 64)).save(
            root / ".training_photos" / f"crop_{i:02d}.jpg")
    for folder in ("paintings", "art"):
        (root / folder).mkdir()
        shutil.copy(SAMPLES / "great_wave.jpg", root / folder / "great_wave.jpg")
    write_video(root / "clip.mp4", pan(np.asarray(canyon), frames=4, size=(64, 48)), fps=8)
    (root / "shop.csv").write_text("input,model,style,size\nphoto.jpg,starry-night,,\n"
                                   "photos/canyon.jpg,,painting.jpg,48\n")
    mask = np.zeros((canyon.height, canyon.width), np.uint8)  # mask.png: black left, white right
    mask[:, canyon.width // 2:] = 255
    Image.fromarray(mask).save(root / "mask.png")
    (root / "my_style").mkdir()
    shutil.copy(ROOT / "src" / "brushwork" / "models" / "starry_night.safetensors",
                root / "my_style" / "model.safetensors")
    return root


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the batch and --engine local commands (as tests/test_batch.py)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


# --- making a command tiny -------------------------------------------------------------------------
def _set(words: list[str], flag: str, value: str) -> list[str]:
    """``flag value`` in ``words``: replaced where given, else added."""
    if flag in words:
        words[words.index(flag) + 1] = value
        return words
    return [*words, flag, value]


def tiny(command: list[str]) -> list[str]:
    """The command at test size: 64 px, 2 steps or iterations, no progress bars; nothing else."""
    sub, words = command[1], command[2:]
    if sub == "stylize":
        words = _set(_set(words, "--size", SIZE), "--iterations", "2")
        if "--save-every" in words:
            words = _set(words, "--save-every", "1")
        words.append("-q")
    elif sub == "apply":
        words = [*_set(words, "--size", SIZE), "-q"]
    elif sub == "train":
        for flag, value in [("--steps", "2"), ("--batch-size", "2"), ("--style-size", SIZE),
                            ("--image-size", SIZE)]:
            words = _set(words, flag, value)
        words.append("-q")
    elif sub == "evaluate":
        words = [re.sub(r"iterations=\d+", "iterations=2", w) for w in words]
        words = ["gatys:iterations=2" if w == "gatys" else w for w in words]
        words = [*_set(_set(words, "--size", SIZE), "--eval-size", SIZE), "-q"]
    elif sub == "batch":
        words = [re.sub(r"iterations=\d+", "iterations=2", w) for w in words]
        words = [*_set(words, "--size", SIZE), "-q"]
    words = ["starry-night" if w == "MODEL" else w for w in words]
    words = [str(ROOT / w) if w.startswith("src/brushwork/") else w for w in words]
    return [sub, *words]


def _value(words: list[str], *flags: str) -> str | None:
    for flag in flags:
        if flag in words:
            return words[words.index(flag) + 1]
    return None


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def check_outputs(argv: list[str], here: Path) -> None:
    """The files the command promises exist: its -o file or folder, --onnx/--half, --save-every."""
    sub = argv[0]
    output = _value(argv, "-o", "--output")
    if output is not None:
        target = here / output
        if output.endswith("/") or sub in ("train", "evaluate", "batch"):
            assert target.is_dir() and _files(target), f"{output} is missing or empty"
        else:
            assert target.is_file() and target.stat().st_size > 0, f"{output} was not written"
            if target.suffix.lower() in (".png", ".jpg"):
                with Image.open(target) as picture:
                    assert max(picture.size) == int(SIZE), picture.size
    if sub == "apply" and output and output.endswith("/"):  # one output per input file
        words = argv[1:] if "--style" in argv else argv[2:]  # without --style, the first is the model
        inputs = sum(len(_files(here / w)) if (here / w).is_dir() else 1 for i, w in enumerate(words)
                     if (here / w).exists() and (i == 0 or words[i - 1] not in ("--style", "-o", "--output")))
        made = [p for p in _files(here / output) if p.suffix.lower() in (".jpg", ".png", ".mp4")]
        assert len(made) == inputs, (made, inputs)
        # Folder results carry the style in their names (README, When things go wrong).
        styles = [argv[i + 1] for i, w in enumerate(argv) if w == "--style"] or [argv[1]]
        style = "+".join(Path(s).stem.replace("_", "-") for s in styles)
        assert all(p.stem.endswith(f"_{style}") for p in made), (style, made)
    for flag in ("--onnx", "--half"):
        path = _value(argv, flag)
        if path:
            assert (here / path).is_file() and (here / path).stat().st_size > 0, f"{path} was not written"
    if "--save-every" in argv:
        result = here / output
        assert (result.parent / f"{result.stem}_0001{result.suffix}").is_file()
        assert (result.parent / f"{result.stem}_losses.csv").is_file()
    if sub == "train":
        assert (here / output / "model.safetensors").is_file()
    if sub == "evaluate":
        for name in ("results.csv", "summary.csv", "report.html"):
            assert (here / output / name).is_file(), name
    if sub == "batch":
        assert (here / output / "batch_report.csv").is_file()


def _params():
    for line in RUN:
        subs = {c[1] for c in line}
        video = any("clip.mp4" in c for c in line)
        ray = "batch" in subs or any("--engine" in c for c in line)
        marks = [pytest.mark.slow] if subs & SLOW or video else []
        yield pytest.param(line, ray, marks=marks, id=" && ".join(" ".join(c[1:]) for c in line)[:90])


def fresh_folder(placeholders: Path, tmp_path: Path, training: bool, outputs=()) -> Path:
    """A new folder holding the placeholders, less any the command writes (``-o my_style/``)."""
    here = tmp_path / "here"
    shutil.copytree(placeholders, here)
    training_photos = here / ".training_photos"
    if training:
        shutil.rmtree(here / "photos")
        training_photos.rename(here / "photos")
    else:
        shutil.rmtree(training_photos)
    for output in outputs:
        path = here / output
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return here


@pytest.mark.parametrize(("line", "uses_ray"), list(_params()))
def test_readme_command(line, uses_ray, placeholders: Path, tmp_path: Path, monkeypatch, request, capsys):
    if uses_ray:
        request.getfixturevalue("ray_instance")
    outputs = [_value(c, "-o", "--output") for c in line if _value(c, "-o", "--output")]
    here = fresh_folder(placeholders, tmp_path, training=any(c[1] == "train" for c in line), outputs=outputs)
    monkeypatch.chdir(here)
    for command in line:
        argv = tiny(command)
        rc = main(argv)
        assert rc == 0, f"exit {rc}: brushwork {' '.join(argv)}\n{capsys.readouterr().err[-2000:]}"
        check_outputs(argv, here)


# --- the Python examples ------------------------------------------------------------------------
def _shrunk(real, **tiny_settings):
    """``real(**kwargs)`` with the test's tiny settings on top (the README's own settings otherwise)."""
    def make(*args, **kwargs):
        return real(*args, **{**kwargs, **tiny_settings})
    return make


@pytest.mark.slow
def test_python_examples(placeholders: Path, tmp_path: Path, monkeypatch):
    blocks = _blocks("python")
    assert blocks, "the README has no python example"
    here = fresh_folder(placeholders, tmp_path, training="brushwork.train(" in "".join(blocks))
    monkeypatch.chdir(here)
    real_evaluate_config = brushwork.EvaluateConfig

    def evaluate_config(*args, **kwargs):
        methods = tuple("gatys:iterations=2" if m == "gatys" else m for m in kwargs.get("methods", ()))
        return real_evaluate_config(*args, **{**kwargs, "methods": methods, "size": 64, "eval_size": 64})

    real_apply = brushwork.apply
    monkeypatch.setattr(brushwork, "StylizeConfig", _shrunk(brushwork.StylizeConfig, size=64, iterations=2),
                        raising=False)
    monkeypatch.setattr(brushwork, "TrainConfig", _shrunk(brushwork.TrainConfig, steps=2, batch_size=2,
                                                          image_size=64, style_size=64), raising=False)
    monkeypatch.setattr(brushwork, "EvaluateConfig", evaluate_config, raising=False)
    monkeypatch.setattr(brushwork, "apply", lambda *a, **k: real_apply(*a, **{**k, "size": 64}),
                        raising=False)
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md (python)", "exec"), namespace)  # noqa: S102 - the README's own code
        saved = re.findall(r"""\.save\(\s*["']([^"']+)["']\s*\)""", block)
        saved += re.findall(r"""save_image\([^,]+,\s*["']([^"']+)["']\s*\)""", block)
        for name in saved:
            assert (here / name).is_file(), f"the example's {name} was not written"
        for value in namespace.values():
            if isinstance(value, Image.Image):
                assert max(value.size) == 64
        if "report" in namespace:
            assert all(Path(p).exists() for p in namespace["report"].files.values())
        if "model_file" in namespace:
            assert Path(namespace["model_file"]).is_file()
