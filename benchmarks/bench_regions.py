"""Regions benchmark: the issue-23 targets on held-out photos with people (person/background from
``--regions auto``), for the arbitrary network, a per-style model and Gatys.

* keep: the person left as the photo; SSIM (scikit-image map, grey) to the photo over the person's
  pixels farther than 2 x feather from the mask's edge (target >= 0.98);
* ratio: the background's style ratio (all reference layers, Gram matrices guided by the background's
  mask) painted as a region / the same measured on the whole picture painted with that painting
  (target <= 1.1);
* two: person = painting B, background = painting A; each region's guided Gram loss to its own
  painting must be lower than to the other's;
* cost: the automatic mask at 512 px (target <= 60 ms) and what a region setting adds to the arbitrary
  path's time (target <= 15 %), medians of repeated runs; ``--cost-only`` interleaves the plain and
  region runs and times the mask's stages (network input, network, grey guide, edges);
* video (``--video``): the mask's flicker (mean absolute change of the person's soft weight between
  frames, plainly and once the motion is undone along the input's optical flow) on a static scene (the
  photo with fresh sensor noise in every frame), a pan and a zoom (with noise): each frame's own mask,
  the moving average gated by motion used before, and the flow-carried one ``apply`` uses.

    nice -n 10 .venv/bin/python benchmarks/bench_regions.py [--gatys-size 256] [--photos a b]
    nice -n 10 .venv/bin/python benchmarks/bench_regions.py --cost-only --reps 15
    nice -n 10 .venv/bin/python benchmarks/bench_regions.py --video

Writes benchmarks/results/regions.json (regions_cost.json, regions_video.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from brushwork.config import ApplyConfig, RegionConfig, StylizeConfig
from brushwork.fast.engines import cpu_model
from brushwork.fast.inference import load_stylizer, stylize_image
from brushwork.images import image_to_tensor, resize_longest
from brushwork.metrics import REFERENCE_STYLE_LAYERS
from brushwork.painters import loss_network
from brushwork.regions import RegionPainter, guided_gram, person_regions, stylize_regions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.clips import pan  # noqa: E402

PHOTOS = Path("/work/shared/data/photos")
STYLES = Path("/work/shared/data/styles")
OUT = Path(__file__).resolve().parent / "results" / "regions.json"


def median_ms(fn, repeat: int = 5, warm: int = 1) -> tuple[float, float]:
    for _ in range(warm):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


class GuidedLoss:
    """Mean over relu1_1..relu5_1 of the relative Gram error of a picture's masked features to a painting."""

    def __init__(self, size: int):
        self.vgg = loss_network()
        self.size = size
        self.cache: dict[str, dict] = {}

    @torch.no_grad()
    def grams(self, image: Image.Image, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x = image_to_tensor(resize_longest(image, self.size))
        feats = self.vgg(x, REFERENCE_STYLE_LAYERS)
        out = {}
        for name, f in feats.items():
            m = torch.ones(f.shape[-2:]) if weight is None else F.interpolate(
                weight[None, None], size=f.shape[-2:], mode="area")[0, 0]
            out[name] = guided_gram(f, m)
        return out

    def loss(self, image: Image.Image, weight: torch.Tensor, painting: Path) -> float:
        key = str(painting)
        if key not in self.cache:
            self.cache[key] = self.grams(Image.open(painting).convert("RGB"))
        target = self.cache[key]
        mine = self.grams(image, weight)
        return float(np.mean([float(torch.mean((mine[n] - target[n]) ** 2) / torch.mean(target[n] ** 2))
                              for n in REFERENCE_STYLE_LAYERS]))


def kept_ssim(result: Image.Image, photo: Image.Image, hard: np.ndarray, feather: float) -> float:
    """SSIM map mean over ``hard`` pixels farther than 2 x feather from its edge."""
    import cv2
    from skimage.metrics import structural_similarity

    band = int(round(2 * feather))
    inner = cv2.erode(hard.astype(np.uint8), np.ones((2 * band + 1, 2 * band + 1), np.uint8)) > 0
    a = np.asarray(result.convert("L"), np.float32) / 255
    b = np.asarray(photo.convert("L").resize(result.size), np.float32) / 255
    _, full = structural_similarity(a, b, data_range=1.0, full=True)
    return float(full[inner].mean()) if inner.any() else float("nan")


def two_paintings(loss: GuidedLoss, picture: Image.Image, person, background, a: Path, b: Path) -> dict:
    """Guided Gram losses of each region to both paintings (person painted with b, background with a)."""
    out = {"person_to_b": loss.loss(picture, person, b), "person_to_a": loss.loss(picture, person, a),
           "background_to_a": loss.loss(picture, background, a),
           "background_to_b": loss.loss(picture, background, b)}
    out["each_closer_to_its_own"] = (out["person_to_b"] < out["person_to_a"]
                                     and out["background_to_a"] < out["background_to_b"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="+", default=["skimage_astronaut", "es_scene_loc6"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--gatys-size", type=int, default=256)
    parser.add_argument("--no-gatys", action="store_true")
    parser.add_argument("--cost-only", action="store_true",
                        help="only the cost targets (mask ms, what a region adds), runs interleaved; "
                        "writes results/regions_cost.json")
    parser.add_argument("--reps", type=int, default=9, help="--cost-only: interleaved runs of each")
    parser.add_argument("--video", action="store_true",
                        help="only the video mask's flicker with and without the stabiliser; writes "
                        "results/regions_video.json")
    parser.add_argument("--video-size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    torch.set_num_threads(2)
    a, b = STYLES / "van_gogh_starry_night.jpg", STYLES / "hokusai_great_wave.jpg"
    info = {"cpu": cpu_model(), "torch": torch.__version__,
            "capability": torch.backends.cpu.get_cpu_capability(), "load_before": os.getloadavg(),
            "size": args.size, "gatys_size": args.gatys_size,
            "painting_a": a.name, "painting_b": b.name}
    print(f"CPU {info['cpu']}, torch {info['torch']} capability {info['capability']}, "
          f"load {info['load_before']}")
    if args.video:
        return video(args, info)
    feather = RegionConfig().feather
    apply = ApplyConfig(size=args.size)
    default = load_stylizer(None, apply, styles=[a])
    if args.cost_only:
        return cost_only(args, info, default, apply)
    model = load_stylizer("starry-night", apply)
    rows = []
    for name in args.photos:
        photo = resize_longest(Image.open(PHOTOS / f"{name}.jpg").convert("RGB"), args.size)
        x = image_to_tensor(photo)
        auto = RegionConfig(regions="auto", region=("person=none",))
        regions = person_regions(x, auto)
        person, background = regions.weights[0], regions.weights[1]
        hard = (person > 0.5).numpy()
        row: dict = {"photo": name, "person_share": float(hard.mean())}
        row["mask_ms"] = median_ms(lambda x=x, auto=auto: person_regions(x, auto), repeat=20, warm=3)
        whole = stylize_image(default, photo, apply)
        row["arbitrary_ms"] = median_ms(lambda p=photo: stylize_image(default, p, apply))
        keep_painter = RegionPainter(default, apply, auto)
        kept = keep_painter.paint(photo)
        row["arbitrary_region_ms"] = median_ms(lambda p=photo, k=keep_painter: k.paint(p))
        row["arbitrary_region_added"] = row["arbitrary_region_ms"][0] / row["arbitrary_ms"][0] - 1
        loss = GuidedLoss(args.size)
        base = loss.loss(photo, background, a)
        row["arbitrary_keep_ssim"] = kept_ssim(kept, photo, hard, feather)
        row["arbitrary_ratio_vs_whole"] = (loss.loss(kept, background, a) / base) / (
            loss.loss(whole, background, a) / base)
        two_config = RegionConfig(regions="auto", region=(f"person={b}",))
        two = RegionPainter(default, apply, two_config).paint(photo)
        row["arbitrary_two"] = two_paintings(loss, two, person, background, a, b)
        model_kept = RegionPainter(model, apply, auto).paint(photo)
        row["model_keep_ssim"] = kept_ssim(model_kept, photo, hard, feather)
        row["model_ratio_vs_whole"] = loss.loss(model_kept, background, a) / loss.loss(
            stylize_image(model, photo, apply), background, a)
        if not args.no_gatys:
            g = StylizeConfig(size=args.gatys_size)
            small = resize_longest(photo, args.gatys_size)
            gx = image_to_tensor(small)
            gregions = person_regions(gx, auto)
            gperson, gback = gregions.weights
            gloss = GuidedLoss(args.gatys_size)
            paint_a = Image.open(a).convert("RGB")
            started = time.perf_counter()
            gwhole = stylize_regions(small, [paint_a], g, RegionConfig(mask=None, regions="auto"))
            row["gatys_whole_s"] = time.perf_counter() - started
            gkept = stylize_regions(small, [paint_a], g, auto)
            row["gatys_keep_ssim"] = kept_ssim(gkept, small, (gperson > 0.5).numpy(), feather)
            row["gatys_ratio_vs_whole"] = gloss.loss(gkept, gback, a) / gloss.loss(gwhole, gback, a)
            gtwo = stylize_regions(small, [paint_a], g, RegionConfig(regions="auto", region=(f"person={b}",)))
            row["gatys_two"] = two_paintings(gloss, gtwo, gperson, gback, a, b)
        rows.append(row)
        print(json.dumps(row, indent=1))
    info["load_after"] = os.getloadavg()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


def cost_only(args, info: dict, default, apply: ApplyConfig) -> None:
    """The two cost targets, the plain and the region runs interleaved (A B A B ...) so that a change
    of the shared machine's load hits both alike; medians over ``--reps``."""
    rows = []
    for name in args.photos:
        photo = resize_longest(Image.open(PHOTOS / f"{name}.jpg").convert("RGB"), args.size)
        x = image_to_tensor(photo)
        auto = RegionConfig(regions="auto", region=("person=none",))
        painter = RegionPainter(default, apply, auto)
        mask = median_ms(lambda x=x, auto=auto: person_regions(x, auto), repeat=30, warm=3)
        stages = mask_stages(x, auto)
        print(f"{name}: mask stages (ms, medians) {stages}")
        plain, region = [], []
        stylize_image(default, photo, apply)
        painter.paint(photo)
        for _ in range(args.reps):
            for fn, into in ((lambda p=photo: stylize_image(default, p, apply), plain),
                             (lambda p=photo, k=painter: k.paint(p), region)):
                started = time.perf_counter()
                fn()
                into.append((time.perf_counter() - started) * 1000)
        row = {"photo": name, "mask_ms": mask, "mask_stages_ms": stages,
               "arbitrary_ms": statistics.median(plain),
               "arbitrary_region_ms": statistics.median(region)}
        row["arbitrary_region_added"] = row["arbitrary_region_ms"] / row["arbitrary_ms"] - 1
        rows.append(row)
        print(json.dumps(row))
    info["load_after"] = os.getloadavg()
    out = OUT.with_name("regions_cost.json")
    out.write_text(json.dumps({"machine": info, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


def mask_stages(x: torch.Tensor, auto: RegionConfig, repeat: int = 30) -> dict[str, float]:
    """Median ms of each stage of ``person_regions`` at the picture's size: the network's input (area
    resize to 256 px), the network (onnxruntime), the grey guide, the edges (the [0.1, 0.9] stretch
    and the guided filter: on a coarse grid from 512 px, as ``person_regions`` does it) and, for
    comparison, the same edges with the full-resolution guided filter used before."""
    import cv2

    from brushwork.regions import (
        _grey,
        _segmentation_runner,
        coarse_guided_filter,
        network_input,
        refine_step,
        soften,
    )

    variant, small = network_input(x)
    run = _segmentation_runner(variant)
    h, w = x.shape[-2:]
    low, grey = run(small)[0, 0], _grey(x)
    radius, step = max(1, round(auto.feather)), refine_step(h, w, auto.feather)

    def stretch() -> np.ndarray:
        return np.clip((low - 0.1) / 0.8, 0, 1).astype(np.float32)

    def full() -> np.ndarray:
        p = cv2.resize(stretch(), (w, h), interpolation=cv2.INTER_LINEAR)
        return soften(np.stack([p, 1 - p]), grey, auto.feather, True)

    stages = {"input": lambda: network_input(x), "network": lambda: run(small), "grey": lambda: _grey(x),
              "edges": (lambda: coarse_guided_filter(grey, stretch(), radius, step)) if step > 1 else full,
              "edges_full_resolution": full}
    return {k: round(median_ms(fn, repeat=repeat, warm=2)[0], 2) for k, fn in stages.items()}


def static_clip(photo: np.ndarray, frames: int, noise: float = 6.0) -> list[np.ndarray]:
    """A camera that does not move: the same picture with fresh sensor noise (sigma in grey levels)."""
    rng = np.random.default_rng(0)
    return [np.clip(photo + rng.normal(0, noise, photo.shape), 0, 255).astype(np.uint8)
            for _ in range(frames)]


class GatedEMA:
    """The stabiliser before the flow-carried one, for comparison: an exponential moving average of the
    weight where the blurred network input changed by less than 0.08 (mean abs), none where it moved
    more, none after a mean change over 0.25."""

    def __init__(self, keep: float):
        self.keep, self._x, self._w = keep, None, None

    def __call__(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        import cv2

        x = cv2.blur(np.ascontiguousarray(x[0].transpose(1, 2, 0)), (5, 5))
        out = weight
        if self._x is not None and self._x.shape == x.shape and self._w.shape == weight.shape:
            change = np.abs(x - self._x).mean(-1)
            if float(change.mean()) < 0.25:
                k = self.keep * np.clip(1 - cv2.blur(change, (9, 9)) / 0.08, 0, 1)
                k = cv2.resize(k.astype(np.float32), weight.shape[::-1], interpolation=cv2.INTER_LINEAR)
                out = (self._w + (1 - k) * (weight - self._w)).astype(np.float32)
        self._x, self._w = x, out
        return out


def person_masks(frames: list[np.ndarray], stabilizer=None, refine: bool = True
                 ) -> tuple[list[np.ndarray], float]:
    """The person's soft weight in each frame, as ``apply`` on a video finds it (``RegionFrames``), and
    the median ms per frame of the stabiliser."""
    from brushwork.regions import RegionSource

    source = RegionSource(RegionConfig(regions="auto", refine_edges=refine))
    timed = []

    def steady(x, w):
        started = time.perf_counter()
        out = stabilizer(x, w)
        timed.append((time.perf_counter() - started) * 1000)
        return out

    out = []
    for f in frames:
        x = torch.tensor(f).permute(2, 0, 1)[None].float().div_(255)
        out.append(source.regions(x, stabilizer=steady if stabilizer else None).weights[0].numpy())
    return out, (statistics.median(timed[1:]) if len(timed) > 1 else 0.0)


def flicker(masks: list[np.ndarray]) -> float:
    """Mean absolute change of the weight between frames."""
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(masks[1:], masks)]))


def flicker_along(frames: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """The same once the motion is undone: the previous weight warped along the input frames' flow
    (DIS medium, ``brushwork.temporal``), over the pixels whose flow is reliable."""
    from brushwork.temporal import motions, warp

    moves = list(motions(frames))
    return float(np.mean([np.abs(masks[t + 1] - warp(masks[t], m.backward))[m.reliable].mean()
                          for t, m in enumerate(moves) if not m.cut]))


def noisy(frames: list[np.ndarray], sigma: float = 6.0, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8) for f in frames]


def video_cost(args, reps: int = 5, frames: int = 16, side: int = 512) -> dict:
    """What ``--regions auto --region person=none`` adds to a video's time per frame: ``apply``'s plain
    frame runner (``fast.video.FrameStylizer``: the arbitrary network, Starry Night, the optical-flow
    stabiliser) against ``regions.RegionFrames`` (the mask found in every frame and carried along the
    flow, the blend, the same stabiliser) on the same frames, interleaved, medians over ``reps``."""
    from brushwork.fast.video import FrameStylizer
    from brushwork.regions import RegionFrames

    apply = ApplyConfig()
    stylizer = load_stylizer(None, apply, styles=[STYLES / "van_gogh_starry_night.jpg"])
    auto = RegionConfig(regions="auto", region=("person=none",))
    image = np.asarray(resize_longest(Image.open(PHOTOS / "skimage_astronaut.jpg").convert("RGB"), side + 80))
    clip = noisy(pan(image, frames, (side, side), 4.0, 0))
    times: dict[str, list[float]] = {"plain": [], "regions": []}
    for rep in range(reps + 1):
        for name, runner in (("plain", FrameStylizer(stylizer, apply)),
                             ("regions", RegionFrames(RegionPainter(stylizer, apply, auto)))):
            started = time.perf_counter()
            for k in range(0, frames, apply.batch_size):
                runner.run(clip[k:k + apply.batch_size])
            if rep:  # the first round warms both up
                times[name].append((time.perf_counter() - started) * 1000 / frames)
    plain, region = statistics.median(times["plain"]), statistics.median(times["regions"])
    return {"side": side, "frames": frames, "reps": reps, "plain_ms_per_frame": plain,
            "regions_ms_per_frame": region, "added": region / plain - 1}


def video(args, info: dict) -> None:
    """Mask flicker, plain and along the motion, per frame alone / the gated moving average / the
    flow-carried one (``MaskStabilizer``, what ``apply`` uses), on a static scene, a pan and a zoom."""
    from brushwork.regions import MaskStabilizer

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.clips import zoom

    keep = RegionConfig().mask_smoothing
    rows = []
    for name in args.photos:
        image = Image.open(PHOTOS / f"{name}.jpg").convert("RGB")
        photo = np.asarray(resize_longest(image, args.video_size))
        size = (photo.shape[1] * 5 // 6, photo.shape[0] * 5 // 6)
        clips = {"static": static_clip(photo, args.frames),
                 "pan_4px": noisy(pan(photo, args.frames, size, 4.0, 0)),
                 "zoom_1pct": noisy(zoom(photo, args.frames, size, 1.01))}
        row: dict = {"photo": name, "size": list(photo.shape[:2]), "frames": args.frames, "noise_sigma": 6.0,
                     "keep": keep}
        for clip, frames in clips.items():
            own, _ = person_masks(frames)
            gated, gated_ms = person_masks(frames, GatedEMA(keep))
            carried, carried_ms = person_masks(frames, MaskStabilizer(keep))
            row[clip] = {
                "flicker": {"own": flicker(own), "gated_ema": flicker(gated), "flow": flicker(carried)},
                "flicker_along_motion": {"own": flicker_along(frames, own),
                                         "gated_ema": flicker_along(frames, gated),
                                         "flow": flicker_along(frames, carried)},
                "vs_own": {"gated_ema": float(np.mean([np.abs(a - b).mean() for a, b in zip(gated, own)])),
                           "flow": float(np.mean([np.abs(a - b).mean() for a, b in zip(carried, own)]))},
                "stabiliser_ms": {"gated_ema": gated_ms, "flow": carried_ms}}
        still = clips["static"]
        unrefined = person_masks(still, MaskStabilizer(keep), refine=False)[0]
        row["static_unrefined"] = {"own": flicker(person_masks(still, refine=False)[0]),
                                   "flow": flicker(unrefined)}
        row["static_flow_by_keep"] = {str(k): flicker(person_masks(still, MaskStabilizer(k))[0])
                                      for k in (0.5, 0.7, 0.85)}
        rows.append(row)
        print(json.dumps(row))
    cost = video_cost(args)
    print(json.dumps(cost))
    info["load_after"] = os.getloadavg()
    out = OUT.with_name("regions_video.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "rows": rows, "cost": cost}, indent=1) + "\n")
    print(f"wrote {out}")

if __name__ == "__main__":
    main()
