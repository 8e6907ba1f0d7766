"""The gallery: bundled paintings, an optional folder of more, and the trained models' styles.

A trained model joins a painting's entry when they share a name, or when the painting is the one it
was trained on (the model's ``style_sha256``, else its ``style_image`` file name, as ``brushwork
train`` records them): with ``--styles-dir`` holding the paintings, a model-only card shows the
painting itself, tagged *has a trained model*, and Quality and blending can paint it too.

``Registry`` holds what the app offers (built once at start-up) and makes the thumbnails. Each
style lists the methods that can paint it: those that take a painting when it has a picture of the
painting, those that take a trained model when one was made for it. Style ids come from this
registry only; a request names an id and never a path, so no request can make the server open a
file it did not list itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from brushwork.config import WebServiceConfig
from brushwork.images import open_image, walk_files
from brushwork.models import find_shipped
from brushwork.painters import ModelPainter
from brushwork.web.methods import JobMethod

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
THUMB_SIZE = 256
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

#: Bundled files: id -> (title, credit). Paintings are style sources, photos are content samples.
BUNDLED_PAINTINGS = {
    "starry_night": ("The Starry Night", "Vincent van Gogh, 1889"),
    "great_wave": ("The Great Wave off Kanagawa", "Katsushika Hokusai, c. 1831"),
}
BUNDLED_PHOTOS = {"canyon": ("Bryce Canyon", "photograph, public domain")}


@dataclass(frozen=True)
class Style:
    """One gallery entry: a painting, a trained model, or both under one name; ``methods`` are the
    names of the methods that can paint it on this server (filled in by ``Registry``)."""

    id: str
    title: str
    credit: str
    painting: Path | None = None
    fast_model: str | None = None
    methods: tuple[str, ...] = ()


def methods_for(style: Style, methods: dict[str, JobMethod]) -> tuple[str, ...]:
    """The available methods that can paint ``style``, in the server's order."""
    fit = []
    for name, method in methods.items():
        if method.unavailable_reason() is not None:
            continue
        if method.takes == "model":
            ok = style.fast_model is not None and style.fast_model in method.models()
        else:
            ok = style.painting is not None
        if ok:
            fit.append(name)
    return tuple(fit)


@dataclass(frozen=True)
class Sample:
    id: str
    title: str
    credit: str
    path: Path


def title_from_stem(stem: str) -> str:
    """``van_gogh_starry_night`` -> ``Van Gogh Starry Night``: good enough for a caption."""
    return " ".join(word.capitalize() for word in re.split(r"[_\-\s]+", stem) if word)


def slug(stem: str) -> str | None:
    """A name as a safe id ([a-z0-9_]; ``starry-night`` and ``Starry Night`` give ``starry_night``)."""
    text = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:64]
    return text if ID_PATTERN.match(text) else None


def find_paintings(styles_dir: str | None) -> dict[str, Style]:
    """The bundled paintings plus every image in ``styles_dir`` (its own ids, deduplicated)."""
    found: dict[str, Style] = {}
    for sid, (title, credit) in BUNDLED_PAINTINGS.items():
        path = SAMPLES_DIR / f"{sid}.jpg"
        if path.is_file():
            found[sid] = Style(sid, title, credit, painting=path)
    if styles_dir and Path(styles_dir).is_dir():
        for path in walk_files(styles_dir, IMAGE_SUFFIXES):
            sid = slug(path.stem)
            if sid and sid not in found:
                found[sid] = Style(sid, title_from_stem(path.stem), "painting", painting=path)
    return found


Painted = dict[str, tuple[str | None, str | None]]  # model id -> (sha256, file name) of its painting


def merge_fast_models(
    paintings: dict[str, Style], models: dict[str, str], trained_on: Painted | None = None
) -> dict[str, Style]:
    """Add trained models (id -> title); a model named like a painting joins that painting's entry, and
    one whose painting is in the gallery (``trained_on``: id -> (sha256, file name)) joins that one."""
    merged = dict(paintings)
    digests: dict[str, str] = {}
    for raw_id, title in models.items():
        sid = slug(raw_id)
        if not sid:
            continue
        if sid in merged:
            old = merged[sid]
            merged[sid] = Style(old.id, old.title, old.credit, old.painting, fast_model=raw_id)
            continue
        own = _own_painting(merged, digests, *(trained_on or {}).get(raw_id, (None, None)))
        if own is not None:  # the model's card shows its painting; the painting's own entry goes
            del merged[own.id]
            merged[sid] = Style(sid, title or own.title, own.credit, own.painting, fast_model=raw_id)
        else:
            merged[sid] = Style(sid, title or title_from_stem(sid), "trained model", fast_model=raw_id)
    return merged


def _own_painting(styles: dict[str, Style], digests: dict[str, str], digest: str | None,
                  name: str | None) -> Style | None:
    """The painting (no model yet) a model was trained on: by content (sha256), else by file name."""
    candidates = [s for s in styles.values() if s.painting is not None and s.fast_model is None]
    if digest:
        for style in candidates:
            if style.id not in digests:
                try:
                    digests[style.id] = hashlib.sha256(style.painting.read_bytes()).hexdigest()
                except OSError:
                    digests[style.id] = ""
            if digests[style.id] == digest:
                return style
    if name:
        return next((s for s in candidates if s.painting.name == name), None)
    return None


def trained_on(method: JobMethod) -> Painted:
    """For each model of ``method``: (sha256, file name) of the painting it was trained on, from the
    model file's metadata (safetensors header only; nothing is loaded). Models without them: absent."""
    found: Painted = {}
    ref_of = getattr(method, "model_ref", None)
    if ref_of is None:
        return found
    for model_id in method.models():
        try:
            ref = ref_of(model_id)
            shipped = find_shipped(str(ref)) if isinstance(ref, str) else None
            path = shipped.path if shipped else Path(os.fspath(ref))
            if path.suffix != ".safetensors" or not path.is_file():
                continue
            from safetensors import safe_open

            with safe_open(str(path), framework="np") as model:
                meta = model.metadata() or {}
        except Exception:  # noqa: BLE001 - a model's metadata never breaks the gallery
            continue
        found[model_id] = (meta.get("style_sha256") or None, meta.get("style_image") or None)
    return found


def find_samples() -> dict[str, Sample]:
    return {
        sid: Sample(sid, title, credit, SAMPLES_DIR / f"{sid}.jpg")
        for sid, (title, credit) in BUNDLED_PHOTOS.items()
        if (SAMPLES_DIR / f"{sid}.jpg").is_file()
    }


def thumbnail_bytes(path: Path, size: int = THUMB_SIZE) -> bytes:
    """A square JPEG crop for the gallery (cheap to send, same shape for every card)."""
    image = ImageOps.fit(open_image(path), (size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def model_preview_bytes(model: str, size: int = THUMB_SIZE) -> bytes | None:
    """A trained model with no painting to show is shown by its work: the bundled photo, painted.

    None if there is no bundled photo or the model cannot be run (the caller shows a swatch)."""
    photos = [SAMPLES_DIR / f"{sid}.jpg" for sid in BUNDLED_PHOTOS]
    photos = [p for p in photos if p.is_file()]
    if not photos:
        return None
    try:
        photo = ImageOps.fit(open_image(photos[0]), (size, size), Image.Resampling.LANCZOS)
        painted = ModelPainter(model).paint(photo)
    except Exception:  # noqa: BLE001 - a preview must never break the gallery
        return None
    buffer = io.BytesIO()
    painted.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def swatch_bytes(text: str, size: int = THUMB_SIZE) -> bytes:
    """A plain coloured tile for a trained model that has no painting to show."""
    hue = sum(map(ord, text)) % 360
    image = Image.new("HSV", (size, size), (int(hue / 360 * 255), 90, 200)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class Registry:
    """Styles, samples and thumbnails the app offers; built at start-up, and again (``add_trained``) when
    the page's training makes a model, so a new style appears without a restart."""

    def __init__(
        self, config: WebServiceConfig, methods: dict[str, JobMethod], trained: Iterable[Style] = ()
    ):
        self.config = config
        self.methods = methods
        #: Styles the page trained (``web.training``): each its own entry with its painting and model,
        #: never merged into another painting's (a model of a gallery painting keeps that painting's card).
        self.trained: dict[str, Style] = {s.id: s for s in trained}
        self._lock = threading.Lock()
        self.styles: dict[str, Style] = {}
        self._build()
        self.samples = find_samples()
        self._thumbs: dict[tuple[str, str], bytes] = {}

    def _build(self) -> None:
        models: dict[str, str] = {}
        paintings_of: Painted = {}
        for method in self.methods.values():
            if method.unavailable_reason() is None:
                models.update(method.models())
                paintings_of.update(trained_on(method))
        for sid in self.trained:
            models.pop(sid, None)
            paintings_of.pop(sid, None)
        merged = merge_fast_models(find_paintings(self.config.styles_dir), models, paintings_of)
        merged.update(self.trained)
        # One assignment: a request reading the gallery meanwhile sees the old one or the new one, whole.
        self.styles = {
            sid: dataclasses.replace(style, methods=methods_for(style, self.methods))
            for sid, style in merged.items()
        }

    def add_trained(self, style: Style) -> Style:
        """Add a style the page trained (its model already offered by the model method); returns it with
        its methods."""
        with self._lock:
            self.trained[style.id] = style
            self._thumbs.pop(("style", style.id), None)
            self._build()
            return self.styles[style.id]

    def thumbnail(self, kind: str, item_id: str) -> bytes | None:
        """A square JPEG of a style or sample, made once; None for an id that is not listed."""
        key = (kind, item_id)
        if key not in self._thumbs:
            if kind == "style" and item_id in self.styles:
                style = self.styles[item_id]
                if style.painting:
                    self._thumbs[key] = thumbnail_bytes(style.painting)
                else:
                    preview = model_preview_bytes(style.fast_model) if style.fast_model else None
                    self._thumbs[key] = preview or swatch_bytes(style.id)
            elif kind == "sample" and item_id in self.samples:
                self._thumbs[key] = thumbnail_bytes(self.samples[item_id].path)
            else:
                return None
        return self._thumbs[key]
