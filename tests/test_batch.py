"""``brushwork batch`` on a real local Ray instance: corrupt inputs, a killed worker, re-runs, manifests,
and the same pixels as ``brushwork apply``."""

from __future__ import annotations

import csv
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brushwork.batch.plan import Painting, plan_batch
from brushwork.batch.run import run_batch
from brushwork.batch.worker import valid_output
from brushwork.cli import main
from brushwork.config import ApplyConfig, BatchConfig, StylizeConfig
from brushwork.errors import EXIT_PARTIAL, ConfigError

ray = pytest.importorskip("ray")
PHOTOS = Path("/work/shared/data/photos")
MODEL = Painting("model", "starry-night")


@pytest.fixture(scope="module")
def ray_instance():
    """One real Ray instance for the module's Ray tests (Ray has no local mode any more; it takes
    seconds to start, 10-15 s on a busy 2-core machine). The batch engine uses it as it finds it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _photo(path: Path, seed: int, size: tuple[int, int] = (80, 60)) -> Path:
    """A real photo (cropped from the shared set when there) or smooth noise, resized to ``size``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = sorted(PHOTOS.glob("*.jpg")) if PHOTOS.is_dir() else []
    if sources:
        image = Image.open(sources[seed % len(sources)]).convert("RGB")
    else:
        rng = np.random.default_rng(seed)
        image = Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8))
    image.resize(size, Image.Resampling.BICUBIC).save(path)
    return path


@pytest.fixture()
def folder(tmp_path) -> Path:
    root = tmp_path / "in"
    for i, name in enumerate(["one.jpg", "two.png", "a/three.png", "a/b/four.jpg"]):
        _photo(root / name, i)
    (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"skipped: hidden")
    return root


def _report(out: Path) -> list[dict]:
    with open(out / "batch_report.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _run(items, out, **batch):
    return run_batch(items, out, BatchConfig(**batch), ApplyConfig(size=64), default=MODEL)


@pytest.mark.slow
def test_corrupt_files_become_failed_rows_and_a_rerun_skips_everything(ray_instance, tmp_path, folder):
    out = tmp_path / "out"
    items = plan_batch(folder, out, MODEL, ApplyConfig(size=64))
    result = _run(items, out, workers=2)
    by_name = {Path(r["input"]).name: r for r in result.rows}
    assert set(by_name) == {"one.jpg", "two.png", "three.png", "four.jpg", "broken.jpg", "notes.txt"}
    assert result.counts == {"done": 4, "skipped": 0, "failed": 2, "pending": 0}
    assert "broken.jpg" in by_name["broken.jpg"]["reason"] and by_name["notes.txt"]["status"] == "failed"
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == {"one_starry-night.jpg", "two_starry-night.png", "a/three_starry-night.png",
                       "a/b/four_starry-night.jpg", "batch_report.csv"}  # named as apply names them
    source = np.asarray(Image.open(folder / "two.png").resize((64, 48)), dtype=np.float32)
    painted = np.asarray(Image.open(out / "two_starry-night.png"), dtype=np.float32)
    assert painted.shape == (48, 64, 3) and np.abs(painted - source).mean() > 10  # really stylised
    assert [r["status"] for r in _report(out)].count("done") == 4 and len(_report(out)) == 6
    assert all(r["worker"] and float(r["seconds"]) > 0 for r in result.rows if r["status"] == "done")

    # A half-written output from some other tool and a killed writer's temporary file: the re-run
    # repaints the first, removes the second and skips everything else without touching it.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    (out / "two_starry-night.png").write_bytes((out / "two_starry-night.png").read_bytes()[:200])
    assert not valid_output(out / "two_starry-night.png")
    (out / "a" / ".three_starry-night.k2j4h.png.tmp").write_bytes(b"half")
    again = _run(plan_batch(folder, out, MODEL, ApplyConfig(size=64)), out, workers=1)
    assert again.counts == {"done": 1, "skipped": 3, "failed": 2, "pending": 0}
    assert {Path(r["input"]).name for r in again.rows if r["status"] == "done"} == {"two.png"}
    assert valid_output(out / "two_starry-night.png") and again.temp_removed == 1
    assert not list(out.rglob("*.tmp"))
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == stamps


@pytest.mark.slow
def test_same_pixels_as_apply_and_cli_exit_codes(ray_instance, tmp_path, folder, capsys):
    """`batch` and `apply` on the same folder with a shipped per-style model: identical files. apply runs
    on one thread, as each actor does, so both take the one engine this machine measured for that
    (on a fresh machine two thread counts may pick torch bf16 for one and onnxruntime for the other)."""
    by_apply, by_batch = tmp_path / "apply", tmp_path / "batch"
    code = main(["apply", "starry-night", str(folder), "-o", str(by_apply), "--size", "96", "-q",
                 "--threads", "1"])
    assert code in (0, EXIT_PARTIAL)  # apply too skips the two unreadable files
    capsys.readouterr()
    code = main(["batch", str(folder), "-o", str(by_batch), "--model", "starry-night", "--size", "96", "-q",
                 "--workers", "2"])
    captured = capsys.readouterr()
    assert code == EXIT_PARTIAL, captured.err  # two unreadable inputs, four painted
    assert "4 painted, 0 skipped" in captured.out and "broken.jpg" in captured.err
    outputs = sorted(p.relative_to(by_apply) for p in by_apply.rglob("*") if p.is_file())
    assert len(outputs) == 4
    for relative in outputs:
        a = np.asarray(Image.open(by_apply / relative))
        b = np.asarray(Image.open(by_batch / relative))
        assert a.shape == b.shape and np.array_equal(a, b), relative


@pytest.mark.slow
def test_a_killed_worker_loses_and_duplicates_nothing(ray_instance, tmp_path):
    """SIGKILL one actor's process after its first result: Ray restarts it and retries its batches;
    every input ends done exactly once, with a complete output and no temporary files left."""
    root = tmp_path / "in"
    for i in range(24):
        _photo(root / f"p{i:02d}.png", i, (160, 120))
    out = tmp_path / "out"
    killed: dict[str, int] = {}

    def kill_first_worker(row: dict) -> None:
        if not killed:
            pid = int(row["worker"].rsplit(":", 1)[1])
            killed["pid"], killed["finished_before"] = pid, sum(1 for p in out.glob("*.png"))
            os.kill(pid, signal.SIGKILL)

    items = plan_batch(root, out, MODEL, ApplyConfig(size=128, batch_size=1))
    result = run_batch(items, out, BatchConfig(workers=2), ApplyConfig(size=128, batch_size=1),
                       default=MODEL, on_row=kill_first_worker)
    assert killed and killed["finished_before"] < 24  # it really died mid-run
    assert result.counts == {"done": 24, "skipped": 0, "failed": 0, "pending": 0}
    assert result.duplicates == 0 and len({r["input"] for r in result.rows}) == 24
    assert sorted(p.name for p in out.iterdir()) == sorted([f"p{i:02d}_starry-night.png" for i in range(24)]
                                                           + ["batch_report.csv"])
    assert all(valid_output(out / f"p{i:02d}_starry-night.png") for i in range(24))
    workers = {r["worker"] for r in result.rows}
    assert len(workers) >= 2 and not list(out.glob(".*"))


@pytest.mark.slow
def test_manifest_rows_choose_their_own_painting_and_options(ray_instance, tmp_path):
    root = tmp_path / "shop"
    for i in range(3):
        _photo(root / f"{i}.jpg", i)
    manifest = root / "list.csv"
    manifest.write_text("input,output,model,style,size\n"
                        "0.jpg,,,,\n"
                        "1.jpg,wave/1.png,great-wave,,48\n"
                        f"2.jpg,,,{_photo(tmp_path / 'painting.png', 7)},\n"
                        "missing.jpg,,,,\n"
                        "0.jpg,tiny.png,,,5\n")
    out = tmp_path / "out"
    items = plan_batch(manifest, out, MODEL, ApplyConfig(size=64))
    assert [i.error != "" for i in items] == [False, False, False, False, True]  # size 5 is refused
    result = run_batch(items, out, BatchConfig(workers=1), ApplyConfig(size=64), default=MODEL)
    status = [r["status"] for r in result.rows]
    assert status == ["done", "done", "done", "failed", "failed"]
    assert Image.open(out / "0_starry-night.jpg").size == (64, 48)
    assert Image.open(out / "wave" / "1.png").size == (48, 36)
    assert (out / "2_painting.jpg").is_file()  # a row's own painting names its output
    assert [r["painting"] for r in result.rows[:3]] == ["model:starry-night", "model:great-wave",
                                                         "arbitrary:painting.png"]
    assert "no such file" in result.rows[3]["reason"] and "size" in result.rows[4]["reason"]

    with pytest.raises(ConfigError, match="both be written"):
        (root / "dup.jsonl").write_text('{"input": "0.jpg"}\n'
                                        '{"input": "1.jpg", "output": "0_starry-night.jpg"}\n')
        plan_batch(root / "dup.jsonl", out, MODEL)
    with pytest.raises(ConfigError, match="unknown manifest column"):
        (root / "typo.csv").write_text("input,strenght\n0.jpg,0.5\n")
        plan_batch(root / "typo.csv", out, MODEL)


@pytest.mark.slow
def test_gatys_runs_one_optimisation_per_photo_on_whole_node_actors(ray_instance, tmp_path):
    root = tmp_path / "in"
    for i in range(2):
        _photo(root / f"{i}.png", i)
    painting = Painting("gatys", str(_photo(tmp_path / "painting.png", 5)))
    stylize = StylizeConfig(size=32, iterations=3, weights="random", multiscale=False)
    out = tmp_path / "out"
    result = run_batch(plan_batch(root, out, painting, stylize=stylize), out, BatchConfig(), stylize=stylize,
                       default=painting)
    assert result.counts["done"] == 2 and (result.workers, result.cpus_per_worker) == (1, 2)
    assert Image.open(out / "0_painting.png").size == (32, 24)


def test_without_ray_the_command_says_how_to_install_it(tmp_path, folder, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main(["batch", str(folder), "-o", str(tmp_path / "out"), "--model", "starry-night"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['brushwork: error: this needs Ray: pip install ".[cluster]" in a brushwork clone '
                   '(it is not on PyPI)']


def test_bad_plans_are_refused_before_any_work(tmp_path, folder):
    with pytest.raises(ConfigError, match="must not be the input folder"):
        plan_batch(folder, folder, MODEL)
    with pytest.raises(ConfigError, match="address"):
        BatchConfig(engine="local", address="ray://head:10001")
    nested = plan_batch(folder, folder / "styled", MODEL)  # outputs inside the input: never re-read
    (folder / "styled").mkdir()
    _photo(folder / "styled" / "one.jpg", 0)
    assert len(plan_batch(folder, folder / "styled", MODEL)) == len(nested) == 6


@pytest.mark.slow
def test_evaluate_on_ray_actors_gives_the_inline_numbers_and_shares_its_cache(ray_instance, tmp_path):
    from brushwork.config import EvaluateConfig
    from brushwork.evaluation.run import evaluate

    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    for i in range(2):
        _photo(photos / f"{i}.png", i, (48, 36))
    _photo(paintings / "p.png", 9, (40, 40))
    (photos / "broken.png").write_bytes(b"not an image")

    def config(out: Path, **kw) -> EvaluateConfig:
        return EvaluateConfig(contents=(str(photos),), styles=(str(paintings),), output=str(out), size=48,
                              eval_size=48, reference_weights="random", threads=1,
                              methods=("gatys:iterations=2,weights=random", "arbitrary"), **kw)

    on_ray = evaluate(config(tmp_path / "ray", engine="local", workers=2))
    inline = evaluate(config(tmp_path / "inline"))
    assert on_ray.computed == inline.computed == 4 and len(on_ray.rows) == 6
    assert [(r["content"], r["method"], r["status"]) for r in on_ray.rows] == \
        [(r["content"], r["method"], r["status"]) for r in inline.rows]
    for ray_row, row in zip(on_ray.rows, inline.rows):
        if row["status"] == "ok":
            for metric in ("content_loss", "style_loss", "ssim"):
                assert ray_row[metric] == pytest.approx(row[metric], rel=1e-4), metric
        else:
            assert "not an image" in ray_row["reason"]
    assert (tmp_path / "ray" / "report.html").is_file()
    assert evaluate(config(tmp_path / "ray")).computed == 0  # the inline engine reuses the Ray run's cache


def test_actor_plan_follows_the_cpus():
    from brushwork.batch.cluster import plan_actors

    class TwoNodes:  # what Ray reports for a head with 0 CPUs and two 4-CPU workers
        def nodes(self):
            return [{"Alive": True, "Resources": {"CPU": c}} for c in (0, 4, 4)]

        def cluster_resources(self):
            return {"CPU": 8}

    cluster = TwoNodes()
    assert plan_actors(cluster, BatchConfig(address="auto"), whole_node=False, items=100) == (8, 1)
    assert plan_actors(cluster, BatchConfig(address="auto"), whole_node=True, items=100) == (2, 4)
    assert plan_actors(cluster, BatchConfig(address="auto"), whole_node=False, items=3) == (3, 1)
    # a cluster may still grow (nodes joining, an autoscaler): a larger request waits instead of failing
    grown = BatchConfig(address="auto", workers=20)
    assert plan_actors(cluster, grown, whole_node=False, items=100) == (20, 1)
    with pytest.raises(ConfigError, match="need 16 CPUs"):  # this machine cannot grow: refused at once
        plan_actors(cluster, BatchConfig(workers=8, cpus_per_worker=2), whole_node=False, items=100)


# --- errors before Ray starts, and Ray's own output --------------------------------------------------
@pytest.fixture()
def no_ray_start(monkeypatch):
    """Ray as if nothing had started it, with ``ray.init`` recording any start: the pre-checks must
    stop the command before it (also when a module's shared instance is running)."""
    starts: list[dict] = []

    def init(*args, **kwargs):
        starts.append(kwargs)
        raise AssertionError("ray.init was called")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    return starts


def _corrupt(path: Path, data: bytes = b"\xff\xd8\xff\xe0 not really a JPEG") -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case, expected", [
    ("typo", "starry-nite: no such model file or shipped style; did you mean starry-night?"),
    ("missing painting", "missing.jpg: no such file"),
    ("corrupt painting", "bad.jpg"),
    ("corrupt model", "bad.safetensors"),
    ("bad manifest", "unknown manifest column 'strenght'"),
    ("bad json", "not a JSON object"),
    ("gatys options", "iterations must be a whole number, got 'notanumber'"),
])
def test_bad_model_painting_or_manifest_is_one_line_before_ray_starts(tmp_path, folder, capsys, no_ray_start,
                                                                      case, expected):
    out = tmp_path / "out"
    args = {
        "typo": [str(folder), "--model", "starry-nite"],
        "missing painting": [str(folder), "--style", str(tmp_path / "missing.jpg")],
        "corrupt painting": [str(folder), "--gatys", str(_corrupt(tmp_path / "bad.jpg"))],
        "corrupt model": [str(folder), "--model", str(_corrupt(tmp_path / "bad.safetensors"))],
        "bad manifest": [str(_write(tmp_path / "list.csv", "input,strenght\none.jpg,0.5\n")),
                         "--model", "starry-night"],
        "bad json": [str(_write(tmp_path / "list.jsonl", '{"input": "one.jpg"}\n{input\n')),
                     "--model", "starry-night"],
        "gatys options": [str(folder), "--gatys", str(_photo(tmp_path / "p.png", 3)), "--gatys-options",
                          "iterations=notanumber"],
    }[case]
    code = main(["batch", *args, "-o", str(out), "--size", "64"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines() == [f"brushwork: error: {err.strip().split('error: ', 1)[1]}"]
    assert expected in err and "Traceback" not in err and "resume" not in err
    assert no_ray_start == [] and not out.exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_manifest_row_with_a_bad_painting_fails_alone(tmp_path, capsys, no_ray_start):
    """A row's own model or painting that does not load is a failed row (named, with "did you mean"),
    found in the driver: with no row left to paint, Ray is never started."""
    _photo(tmp_path / "0.jpg", 0)
    _corrupt(tmp_path / "kiss.jpg")
    manifest = _write(tmp_path / "list.csv", "input,model,style\n0.jpg,great-wav,\n0.jpg,,kiss.jpg\n")
    code = main(["batch", str(manifest), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and no_ray_start == []
    assert err[0].endswith("great-wav: no such model file or shipped style; did you mean great-wave?")
    assert "kiss.jpg: corrupt or truncated image" in err[1]
    assert err[-1] == "brushwork: error: no input could be painted"
    assert [r["status"] for r in _report(tmp_path / "out")] == ["failed", "failed"]


def _batch_process(args: list[str], tmp_path: Path):
    """``brushwork batch ARGS`` in a child process that joins this module's Ray instance (so no second
    Ray starts): its stdout and stderr exactly as a user's terminal would get them."""
    import subprocess

    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "brushwork", "batch", *args, "--engine", "ray", "--address",
                           address, "--workers", "1"], capture_output=True, text=True, env=env, timeout=300,
                          cwd=tmp_path)


@pytest.mark.slow
def test_rays_own_output_goes_to_a_log_and_is_dropped_with_quiet(ray_instance, tmp_path):
    root = tmp_path / "in"
    _photo(root / "one.jpg", 0)
    _corrupt(root / "broken.jpg", b"not an image")

    def ours(out: Path) -> list[str]:  # all a user reads on stderr besides the progress bar
        return [f"  failed: {root / 'broken.jpg'}: not an image file (or a format Pillow cannot read)",
                f"brushwork: error: 1 of 2 input(s) failed (listed above and in {out / 'batch_report.csv'})"]

    paint = ["--model", "starry-night", "--size", "48"]
    quiet = _batch_process([str(root), "-o", str(tmp_path / "quiet"), *paint, "-q"], tmp_path)
    assert quiet.returncode == EXIT_PARTIAL, quiet.stderr
    assert quiet.stderr.splitlines() == ours(tmp_path / "quiet")
    assert quiet.stdout.startswith("1 painted, 0 skipped") and len(quiet.stdout.splitlines()) == 1
    assert not (tmp_path / "quiet" / "ray.log").exists()

    loud = _batch_process([str(root), "-o", str(tmp_path / "loud"), *paint], tmp_path)
    assert loud.returncode == EXIT_PARTIAL, loud.stderr
    lines = [line for line in loud.stderr.replace("\r", "\n").splitlines() if line.strip()]
    bar = [line for line in lines if re.match(r"\s*\d+%\|", line)]  # tqdm's "50%|#####     | 1/2 [...]"
    assert bar and [line for line in lines if line not in bar] == ours(tmp_path / "loud")
    assert loud.stdout.startswith("1 painted, 0 skipped") and len(loud.stdout.splitlines()) == 1
    log = (tmp_path / "loud" / "ray.log").read_text()
    assert log.startswith("--- ") and " brushwork batch " in log.splitlines()[0]


def test_an_actor_whose_painting_does_not_load_fails_its_rows_instead_of_dying(tmp_path):
    """Whatever slips past the driver's checks (a file changed since, a node without it) must not kill
    the actor in its constructor: Ray would print its traceback and restart it, again and again."""
    from brushwork.batch.plan import Item
    from brushwork.batch.worker import StylizeActor

    missing = Painting("model", str(tmp_path / "gone.safetensors"))
    actor = StylizeActor(ApplyConfig(size=32), StylizeConfig(), missing, threads=1)
    photo = _photo(tmp_path / "p.png", 0)
    (row,) = actor.paint([Item(0, str(photo), str(tmp_path / "out.png"), missing)])
    assert row["status"] == "failed" and "gone.safetensors: no such model file" in row["reason"]
    assert not (tmp_path / "out.png").exists()


@pytest.mark.slow
def test_manifest_rows_take_a_mask_or_auto_and_their_own_regions(ray_instance, tmp_path):
    from PIL import ImageDraw

    root = tmp_path / "shop"
    for i in range(4):
        _photo(root / f"{i}.png", i, size=(64, 48))
    mask = Image.new("L", (32, 24), 0)
    ImageDraw.Draw(mask).rectangle((16, 0, 32, 24), fill=255)
    mask.save(root / "half.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    painting = _photo(root / "paintings" / "p.png", 7)
    manifest = root / "list.csv"
    manifest.write_text("input,output,style,mask,region,feather\n"
                        "0.png,half.png,paintings/p.png,half.png,white=none,2\n"
                        "1.png,auto.png,paintings/p.png,auto,person=none,\n"
                        "2.png,bad.png,paintings/p.png,corrupt.png,white=none,\n"
                        "3.png,plain.png,paintings/p.png,,,\n"
                        "0.png,nomask.png,paintings/p.png,,white=none,\n")
    out = tmp_path / "out"
    items = plan_batch(manifest, out, None, ApplyConfig(size=64))
    assert items[4].error and "needs regions" in items[4].error  # a region with no mask: refused in the plan
    assert items[0].regions == {"mask": str((root / "half.png").resolve()), "region": ["white=none"],
                                "feather": "2"}
    result = run_batch(items, out, BatchConfig(workers=1), ApplyConfig(size=64, engine="torch"))
    status = [r["status"] for r in result.rows]
    assert status == ["done", "done", "failed", "done", "failed"], result.rows
    reason = result.rows[2]["reason"]
    assert "corrupt.png" in reason and "\n" not in reason and "Traceback" not in reason, reason
    assert not (out / "bad.png").exists()
    photo = np.asarray(Image.open(root / "0.png"), float)
    half = np.asarray(Image.open(out / "half.png"), float)
    plain = np.asarray(Image.open(out / "plain.png"), float)
    assert np.array_equal(half[:, 40:], photo[:, 40:])  # the white half, beyond 2x feather: the photo
    assert np.abs(half[:, :24] - photo[:, :24]).mean() > 5  # the black half painted
    assert (out / "auto.png").is_file() and painting.is_file()
    assert np.abs(plain - np.asarray(Image.open(root / "3.png"), float)).mean() > 5


@pytest.mark.slow
def test_a_manifest_row_with_auto_and_no_person_is_painted_whole_with_a_warning(ray_instance, tmp_path,
                                                                                capsys):
    """``mask=auto`` on a picture with no person: the row is done, painted whole with the background's
    setting (the same pixels as the row without regions), and its reason and stderr say why."""
    root = tmp_path / "shop"
    root.mkdir()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(root / "wall.png")  # MediaPipe sees no person
    painting = _photo(root / "p.png", 7)
    _write(root / "list.csv", "input,output,style,mask,region\n"
                              f"wall.png,auto.png,{painting.name},auto,person=none\n"
                              f"wall.png,plain.png,{painting.name},,\n")
    out = tmp_path / "out"
    code = main(["batch", str(root / "list.csv"), "-o", str(out), "--size", "64", "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    rows = _report(out)
    assert [r["status"] for r in rows] == ["done", "done"] and rows[1]["reason"] == ""
    assert rows[0]["reason"].startswith("warning: ") and "no person found" in rows[0]["reason"], rows[0]
    assert "wall.png" in rows[0]["reason"] and "\n" not in rows[0]["reason"]
    assert [line for line in err.splitlines() if "no person found" in line] == [rows[0]["reason"]]
    auto, plain = (np.asarray(Image.open(out / n), int) for n in ("auto.png", "plain.png"))
    assert np.abs(auto - plain).max() <= 2  # the whole picture painted, as without regions
    assert np.abs(plain - 128).mean() > 5


def _half_mask(path: Path) -> Path:
    from PIL import ImageDraw

    mask = Image.new("L", (32, 24), 0)
    ImageDraw.Draw(mask).rectangle((16, 0, 32, 24), fill=255)
    mask.save(path)
    return path


@pytest.mark.slow
def test_region_flags_give_every_input_of_a_folder_its_regions(ray_instance, tmp_path, capsys):
    root = tmp_path / "in"
    photos = [_photo(root / f"{i}.png", i, size=(64, 48)) for i in range(2)]
    mask, painting = _half_mask(tmp_path / "half.png"), _photo(tmp_path / "p.png", 7)
    out = tmp_path / "out"
    code = main(["batch", str(root), "-o", str(out), "--style", str(painting), "--mask", str(mask),
                 "--region", "white=none", "--feather", "2", "--size", "64", "-q"])
    assert code == 0, capsys.readouterr().err
    rows = _report(out)
    assert [r["status"] for r in rows] == ["done", "done"]
    assert sorted(Path(r["input"]).name for r in rows) == [p.name for p in photos]
    for row in rows:
        before = np.asarray(Image.open(row["input"]), float)
        after = np.asarray(Image.open(row["output"]), float)
        assert np.array_equal(after[:, 40:], before[:, 40:])  # the white half, beyond 2x feather: the photo
        assert np.abs(after[:, :24] - before[:, :24]).mean() > 5  # the black half painted


@pytest.mark.parametrize("case, expected", [
    ("corrupt mask", "bad.png: not an image file"),
    ("unknown region", "the mask half.png has no region 'sky'; its regions are 0 = black = #000000, "
                       "255 = white = #ffffff"),
    ("region without regions", "--region needs regions"),
])
def test_bad_region_flags_are_one_line_before_ray_starts(tmp_path, folder, capsys, no_ray_start, case,
                                                         expected):
    half = _half_mask(tmp_path / "half.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a picture")
    extra = {"corrupt mask": ["--mask", str(tmp_path / "bad.png"), "--region", "white=none"],
             "unknown region": ["--mask", str(half), "--region", "sky=none"],
             "region without regions": ["--region", "white=none"]}[case]
    out = tmp_path / "out"
    code = main(["batch", str(folder), "-o", str(out), "--model", "starry-night", *extra])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert no_ray_start == [] and not out.exists()


def test_a_painting_of_kind_style_is_the_old_word_for_arbitrary(tmp_path):
    from brushwork.errors import BrushworkDeprecationWarning

    with pytest.warns(BrushworkDeprecationWarning, match="Painting\\('arbitrary', ...\\)"):
        old = Painting("style", str(tmp_path / "p.png"))
    assert old == Painting("arbitrary", str(tmp_path / "p.png")) and old.label == "arbitrary:p.png"
