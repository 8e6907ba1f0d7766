"""docs/images/regions/video_frames.jpg: input | ``brushwork apply --style starry_night.jpg clip.mp4
--regions auto --region person=none`` for frames 0, 12 and 23 of a generated clip: the astronaut photo
panned 4 px a frame with fresh sensor noise (sigma 4 grey levels) in every frame, 320 px. The person's
mask is found in every frame and carried along the optical flow (``regions.MaskStabilizer``).

    nice -n 10 .venv/bin/python docs/make_regions_video_figure.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.clips import pan, read_video, write_video  # noqa: E402

PHOTO = Path("/work/shared/data/photos/skimage_astronaut.jpg")
PAINTING = Path("/work/shared/data/styles/van_gogh_starry_night.jpg")
OUT = Path(__file__).resolve().parent / "images" / "regions" / "video_frames.jpg"
FRAMES, SHOWN, SIZE = 24, (0, 12, 23), 320


def main() -> None:
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((400, 400), Image.Resampling.BICUBIC))
    rng = np.random.default_rng(0)
    clip = [np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8)
            for f in pan(photo, FRAMES, (SIZE, SIZE), 4.0, 0)]
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "clip.mp4", Path(tmp) / "out.mp4"
        write_video(source, clip)
        subprocess.run([sys.executable, "-m", "brushwork", "apply", "--style", str(PAINTING), str(source),
                        "-o", str(target), "--regions", "auto", "--region", "person=none", "-q"], check=True)
        inputs, outputs = read_video(source)[0], read_video(target)[0]
    rows = [np.concatenate([inputs[t], outputs[t]], 1) for t in SHOWN]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(OUT, quality=88)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
