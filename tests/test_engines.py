"""Engines of the fast paths: the per-machine choice and its cache, onnxruntime against PyTorch, the
arbitrary path's caches, and the OpenMP policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import save_tiny_model
from PIL import Image

from brushwork.cli import main
from brushwork.config import ApplyConfig
from brushwork.errors import ConfigError
from brushwork.fast import engines, inference
from brushwork.fast.inference import engine_candidates, load_stylizer, paint
from brushwork.networks import arbitrary
from brushwork.networks.arbitrary_weights import load_transfer_weights

SAMPLES = Path(__file__).resolve().parent.parent / "src" / "brushwork" / "data" / "samples"
#: onnxruntime against PyTorch, both fp32, on [0, 1] pictures: measured max 3e-6 (tiny net) and
#: 2e-5 (Magenta's network); a wrong graph (another style, no padding) is off by > 0.05.
ONNX_ATOL = 2e-4


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Each test its own cache folder (the engine choice, exported graphs)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BRUSHWORK_CACHE", str(folder))
    inference._SESSIONS.clear()
    inference._CHOICES.clear()
    return folder


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", width=8, res_blocks=1)


@pytest.fixture()
def measures(monkeypatch) -> list:
    """Every micro-benchmark run, recorded (the real one still runs)."""
    calls: list = []
    real = engines.measure

    def spy(runners, reps=engines.PROBE_REPS):
        calls.append(sorted(runners))
        return real(runners, reps)

    monkeypatch.setattr(engines, "measure", spy)
    return calls


def _photo(seed: int = 0, size=(70, 45)) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


# --- choosing and the cache ------------------------------------------------------------------------
def test_auto_measures_once_and_caches_per_model(model_path, cache, measures):
    first = load_stylizer(model_path, ApplyConfig(threads=1))
    assert first.choice.how == "measured" and first.choice.engine in ("torch-fp32", "onnx-fp32", "torch-bf16")
    assert {"torch-fp32", "onnx-fp32"} <= set(first.choice.ms) and measures
    inference._CHOICES.clear()  # as a new process would: from the file
    again = load_stylizer(model_path, ApplyConfig(threads=1))
    assert again.choice.how == "cached" and again.choice.engine == first.choice.engine
    assert len(measures) == 1  # the second load read the cache
    assert again.runtime == first.choice.runtime  # "onnxruntime fp32" / "torch fp32" / "torch bf16"
    entries = json.loads((cache / engines.CACHE_NAME).read_text())["entries"]
    (entry,) = entries.values()
    assert entry["model"] == engines.file_digest(model_path) and entry["fingerprint"]["threads"] == 1
    # Another thread count is another machine setting: measured again.
    assert load_stylizer(model_path, ApplyConfig(threads=2)).choice.how == "measured"


@pytest.mark.parametrize("damage", [b"{ not json", b"\xff\xfe\x00", b'{"format": 99, "entries": {}}',
                                    b'{"format": 1, "entries": []}', b"[]"])
def test_corrupt_cache_is_rebuilt_not_an_error(model_path, cache, measures, damage):
    cache.mkdir(parents=True, exist_ok=True)
    (cache / engines.CACHE_NAME).write_bytes(damage)
    inference._CHOICES.clear()
    stylizer = load_stylizer(model_path, ApplyConfig(threads=1))
    assert stylizer.choice.how == "measured" and len(measures) == 1
    data = json.loads((cache / engines.CACHE_NAME).read_text())
    assert data["format"] == engines.CACHE_FORMAT and len(data["entries"]) == 1
    inference._CHOICES.clear()  # a new process reads the rebuilt file
    assert load_stylizer(model_path, ApplyConfig(threads=1)).choice.how == "cached"


def test_stale_entry_is_measured_again(model_path, cache, measures):
    load_stylizer(model_path, ApplyConfig(threads=1))
    path = cache / engines.CACHE_NAME
    data = json.loads(path.read_text())
    (key,) = data["entries"]
    data["entries"][key]["engine"] = "onnx-int4"  # an engine this version does not know
    path.write_text(json.dumps(data))
    inference._CHOICES.clear()  # a new process
    assert load_stylizer(model_path, ApplyConfig(threads=1)).choice.how == "measured"
    assert len(measures) == 2


def test_processes_started_together_measure_once_and_agree(cache):
    """Ray actors (or web workers) starting at once: one measures, the others wait and read its answer,
    so a run never paints some pictures in bf16 and others in fp32. Each runner's time is random, so
    processes that measured on their own would disagree about half the time."""
    code = (
        "import random, sys, time\n"
        "from brushwork.fast import engines\n"
        "def runners():\n"
        "    nap = lambda: time.sleep(random.uniform(0.02, 0.12))\n"
        "    return {'torch-fp32': nap, 'onnx-fp32': nap}\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "choice = engines.choose('model-x', 1, ['torch-fp32', 'onnx-fp32'], runners)\n"
        "print(choice.how, choice.engine)\n")
    start_at = f"{time.time() + 2.0:.3f}"  # after every interpreter has started
    env = {**os.environ, "BRUSHWORK_CACHE": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", code, start_at], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]
    answers = [p.communicate(timeout=120)[0].split() for p in procs]
    assert sorted(how for how, _ in answers) == ["cached", "cached", "measured"], answers
    assert len({engine for _, engine in answers}) == 1, answers


def test_a_damaged_exported_graph_is_exported_again(model_path, cache):
    stylizer = load_stylizer(model_path, ApplyConfig(engine="onnx", threads=1))
    (graph,) = (cache / "engines").glob("*-model-*.onnx")
    graph.write_bytes(b"not an onnx graph")
    inference._SESSIONS.clear()
    again = load_stylizer(model_path, ApplyConfig(engine="onnx", threads=1))
    x = torch.rand(1, 3, 32, 40)
    assert torch.allclose(again.batch(x), stylizer.batch(x), atol=1e-6)
    assert graph.stat().st_size > 1000


def test_engine_choices_and_their_errors(model_path, tmp_path, monkeypatch):
    assert engine_candidates("torch", "fp32") == ["torch-fp32"]
    assert engine_candidates("onnx", "auto") == ["onnx-fp32"]
    assert engine_candidates("auto", "bf16") == ["torch-bf16"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # how an AVX2 laptop is emulated: no native bf16
    assert engine_candidates("auto", "auto") == ["torch-fp32", "onnx-fp32"]
    with pytest.raises(ConfigError, match="bf16"):
        engine_candidates("onnx", "bf16")
    with pytest.raises(ConfigError, match="engine"):
        ApplyConfig(engine="tensorrt")
    onnx_file = tmp_path / "m.onnx"
    assert main(["export", str(model_path), "--onnx", str(onnx_file)]) == 0
    with pytest.raises(ConfigError, match="onnxruntime"):
        load_stylizer(onnx_file, ApplyConfig(engine="torch"))
    assert load_stylizer(model_path, ApplyConfig(engine="torch", precision="fp32")).choice.how == "asked"


# --- onnxruntime against PyTorch ---------------------------------------------------------------------
def test_engine_onnx_matches_torch_for_a_model(model_path):
    torch_s = load_stylizer(model_path, ApplyConfig(engine="torch", precision="fp32"))
    onnx_s = load_stylizer(model_path, ApplyConfig(engine="onnx"))
    assert (torch_s.runtime, onnx_s.runtime) == ("torch fp32", "onnxruntime fp32")
    for shape in [(1, 3, 32, 48), (2, 3, 36, 20), (1, 3, 17, 23)]:
        x = torch.rand(*shape)
        assert float((onnx_s.batch(x) - torch_s.batch(x)).abs().max()) < ONNX_ATOL


def test_engine_onnx_matches_torch_for_the_arbitrary_network():
    painting = Image.open(SAMPLES / "great_wave.jpg")
    torch_s = load_stylizer(None, ApplyConfig(engine="torch", precision="fp32"), styles=[painting])
    onnx_s = load_stylizer(None, ApplyConfig(engine="onnx"), styles=[painting])
    assert onnx_s.runtime == f"onnxruntime fp32 (arbitrary, {ApplyConfig().network} network)"
    for shape in [(1, 3, 48, 64), (2, 3, 37, 29)]:  # batches and sides that are not multiples of 4
        x = torch.rand(*shape)
        assert float((onnx_s.batch(x) - torch_s.batch(x)).abs().max()) < ONNX_ATOL
    # strength < 1: the photo's own vector is mixed in, per photo, on both engines
    half = ApplyConfig(strength=0.5)
    x = torch.rand(2, 3, 40, 44)
    a = load_stylizer(None, half.replace(engine="onnx"), styles=[painting]).batch(x)
    b = load_stylizer(None, half.replace(engine="torch", precision="fp32"), styles=[painting]).batch(x)
    assert float((a - b).abs().max()) < ONNX_ATOL
    other = load_stylizer(None, ApplyConfig(engine="onnx"), styles=[Image.open(SAMPLES / "starry_night.jpg")])
    assert float((other.batch(x) - onnx_s.batch(x)).abs().mean()) > 0.02  # the style is an input


def test_a_painting_first_painted_in_bf16_is_painted_in_fp32_as_if_it_were_the_first():
    """The folded network is kept per painting: one first built inside a bf16 region once carried
    bf16-rounded norms (off by 0.008) into every later fp32 picture of that painting in the process."""
    painting = Image.open(SAMPLES / "great_wave.jpg")
    x = torch.rand(1, 3, 32, 40)
    inference._FOLDED.clear()
    fresh = load_stylizer(None, ApplyConfig(engine="torch", precision="fp32"), styles=[painting]).batch(x)
    inference._FOLDED.clear()
    bf16 = load_stylizer(None, ApplyConfig(engine="torch", precision="bf16"), styles=[painting])
    assert bf16.bf16
    bf16.batch(x)
    after = load_stylizer(None, ApplyConfig(engine="torch", precision="fp32"), styles=[painting]).batch(x)
    assert torch.equal(after, fresh)
    weights = load_transfer_weights(bf16.network)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the fold itself, wherever it is made
        inside = arbitrary.fold_style(weights, bf16.vector)
    outside = arbitrary.fold_style(weights, bf16.vector)
    assert all(torch.equal(a, b) for a, b in zip(inside.parameters(), outside.parameters()))


def test_cli_names_the_engine_that_ran(tmp_path, model_path, capsys):
    photo = tmp_path / "p.png"
    _photo().save(photo)
    for engine, name in (("onnx", "onnxruntime fp32"), ("torch", "torch fp32")):
        code = main(["apply", str(model_path), str(photo), "-o", str(tmp_path / engine), "-q",
                     "--engine", engine, "--precision", "fp32" if engine == "torch" else "auto"])
        assert code == 0
        assert f"({name})" in capsys.readouterr().out


# --- the arbitrary path's caches ---------------------------------------------------------------------
def test_arbitrary_path_reuses_networks_and_vectors(monkeypatch):
    built, predicted = [], []
    real_init, real_predict = arbitrary.FoldedTransfer.__init__, inference.predict_style

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    def counting_predict(*args, **kwargs):
        predicted.append(1)
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(arbitrary.FoldedTransfer, "__init__", counting_init)
    monkeypatch.setattr(inference, "predict_style", counting_predict)
    inference._VECTORS.clear()
    inference._FOLDED.clear()
    painting = Image.open(SAMPLES / "starry_night.jpg").convert("RGB")
    config = ApplyConfig(engine="torch", precision="fp32")
    first = paint(None, _photo(), styles=[painting], config=config)
    assert (len(built), len(predicted)) == (1, 1)
    second = paint(None, _photo(), styles=[painting.copy()], config=config)  # same pixels, another object
    assert (len(built), len(predicted)) == (1, 1)  # neither the network nor the vector was rebuilt
    assert np.array_equal(np.asarray(first), np.asarray(second))
    paint(None, _photo(), styles=[painting.rotate(90, expand=True)], config=config)
    assert (len(built), len(predicted)) == (2, 2)  # a new painting: one prediction, one network


def test_arbitrary_onnx_engine_builds_one_session_for_every_painting(monkeypatch):
    sessions = []
    real = engines.onnx_session

    def counting(path, threads=0):
        sessions.append(path)
        return real(path, threads)

    monkeypatch.setattr(engines, "onnx_session", counting)
    config = ApplyConfig(engine="onnx")
    for name in ("starry_night.jpg", "great_wave.jpg", "starry_night.jpg"):
        picture = paint(None, _photo(), styles=[SAMPLES / name], config=config)
        assert picture.size == (70, 45)
    assert len(sessions) == 1


# --- machine settings ----------------------------------------------------------------------------------
def test_package_sets_a_passive_openmp_policy_before_torch_loads():
    code = ("import os, brushwork, torch; print(os.environ.get('OMP_WAIT_POLICY'), "
            "os.environ.get('KMP_BLOCKTIME'))")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["PASSIVE", "0"]
    mine = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert mine.stdout.split()[0] == "ACTIVE"  # the user's own setting wins
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "BRUSHWORK_OPENMP": "default"})
    assert off.stdout.split() == ["None", "None"]


def test_onnxruntime_sessions_do_not_spin(model_path):
    options = engines.ort_options(2)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2


def test_native_bf16_respects_the_onednn_isa_cap(monkeypatch):
    from brushwork.precision import native_bf16

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not native_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert native_bf16()


def test_models_lists_the_engine_chosen_here(capsys):
    assert main(["models"]) == 0
    assert "apply --engine auto: not measured yet" in capsys.readouterr().out.splitlines()[-1]
    chosen = load_stylizer("starry-night", ApplyConfig())
    assert main(["models"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert f"{chosen.runtime} (1 model)" in last and "not measured yet" in last


def test_exporting_the_arbitrary_graph_leaves_the_shared_network_in_eval_mode(tmp_path):
    """torch.onnx.export restores the exported module's mode recursively: exporting a fresh wrapper
    around the cached network once left that network training for every later user (found by a
    shuffled run of the suite: test_arbitrary_network's frozen-weights check failed after it)."""
    from brushwork.networks.arbitrary_weights import load_transfer_weights

    shared = load_transfer_weights()
    assert not shared.training
    engines.arbitrary_graph(tmp_path / "arbitrary.onnx")
    assert not shared.training and not any(m.training for m in shared.modules())
