"""What a batch paints: one item per input, each with a deterministic output path.

A folder is walked like ``brushwork apply`` walks one (``media.plan_jobs``: recursive, sorted,
hidden files skipped, layout kept, the same output names), so a batch and an ``apply`` of the same
folder write the same files. A manifest (CSV with a header, or JSON lines) names one input per row
and may give it its own painting and options::

    input,output,model,style,gatys,size,strength,preserve_colors,stroke_size,detail,seed,network
    shop/123.jpg,,great-wave,,,1024,,,,,,
    shop/124.jpg,124_kiss.png,,paintings/kiss.jpg,,,0.7,,,,,magenta

(``network``: the arbitrary-style network of a ``style`` row, brushwork or magenta, as ``--network``)

and its own regions (docs/regions.md): ``mask`` is a mask picture or ``auto`` (person / background),
``region`` the row's ``NAME=VALUE`` settings separated by ``;`` (``person=none;background=wave.jpg:0.6``),
``feather`` the soft edge's width::

    input,model,mask,region
    shop/125.jpg,great-wave,auto,person=none
    shop/126.jpg,,masks/126.png,white=none;red=paintings/kiss.jpg

Relative paths are relative to the manifest's folder; an output is ``OUT/`` + the ``output`` column,
else the input's path relative to the manifest's folder (its file name when it lies elsewhere).
Output paths are a pure function of the plan, which is what makes re-runs exactly-once: an output
that exists is skipped, a missing one is painted, and two runs never write two files for one input.
Rows the planner already knows to be bad (a video, an unknown option value) carry their ``error``
and become failed rows of the report without reaching a worker.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

from brushwork.config import ApplyConfig, RegionConfig, StylizeConfig, config_from_options, parse_options
from brushwork.errors import BrushworkError, ConfigError, ImageError, deprecated
from brushwork.media import plan_jobs, style_label, target_name

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")
#: Manifest columns that choose what paints a row (at most one per row): a fast model (a shipped name
#: or a file), a painting for the arbitrary-style network, or a painting for Gatys optimisation.
PAINT_COLUMNS = ("model", "style", "gatys")
#: Manifest columns that change one row's settings (fields of ApplyConfig, or of StylizeConfig for Gatys).
OPTION_COLUMNS = ("size", "strength", "preserve_colors", "stroke_size", "detail", "seed", "network")
#: Manifest columns that give a row regions (``RegionConfig``: mask file or auto, settings, feather).
REGION_COLUMNS = ("mask", "region", "feather")
COLUMNS = ("input", "output", *PAINT_COLUMNS, *OPTION_COLUMNS, *REGION_COLUMNS)
#: The method each paint column runs: a row's (and the report's) ``kind``. ``style`` is, as in
#: ``apply --style``, a painting for the arbitrary-style network.
KIND_OF_COLUMN = {"model": "model", "style": "arbitrary", "gatys": "gatys"}
KINDS = tuple(KIND_OF_COLUMN.values())


@dataclass(frozen=True)
class Painting:
    """What paints an item: ``kind`` is ``model``, ``arbitrary`` or ``gatys`` (``style``, the old word for
    ``arbitrary``, still works for one release);
    ``ref`` a shipped model name or an absolute file path (readable by every worker)."""

    kind: str
    ref: str

    def __post_init__(self) -> None:
        if self.kind == "style":
            deprecated("Painting('style', ...)", "Painting('arbitrary', ...)")
            object.__setattr__(self, "kind", "arbitrary")

    @property
    def slug(self) -> str:
        """Its part of the output names, as ``brushwork apply`` names them (``photo_starry-night.jpg``)."""
        return style_label(self.ref) if self.kind == "model" else style_label(None, [self.ref])

    @property
    def label(self) -> str:
        return f"{self.kind}:{Path(self.ref).name if self.kind != 'model' else Path(self.ref).stem}"


@dataclass
class Item:
    """One input of the batch and the file it becomes."""

    index: int
    source: str
    target: str
    painting: Painting
    options: dict[str, str] = field(default_factory=dict)
    error: str = ""
    #: The row's regions: ``mask`` (an absolute file path or ``auto``), ``region`` (settings, paths
    #: absolute), ``feather``; empty: the whole picture.
    regions: dict[str, typing.Any] = field(default_factory=dict)

    def to_row(self) -> dict[str, typing.Any]:
        """A flat record for Ray Data (strings and ints only)."""
        return {"index": self.index, "input": self.source, "output": self.target, "kind": self.painting.kind,
                "ref": self.painting.ref, "options": json.dumps(self.options, sort_keys=True),
                "regions": json.dumps(self.regions, sort_keys=True)}


def region_config(item: Item):
    """The item's ``RegionConfig`` (None without regions); raises ConfigError for settings that cannot
    work (a ``region`` without a ``mask``, a bad feather)."""
    if not item.regions:
        return None
    mask = item.regions.get("mask", "")
    feather = item.regions.get("feather", "")
    try:
        extra = {"feather": float(feather)} if feather else {}
    except ValueError:
        raise ConfigError(f"feather must be a number of pixels, got {feather!r}") from None
    if "refine_edges" in item.regions:
        extra["refine_edges"] = bool(item.regions["refine_edges"])
    auto = mask == "auto"
    return RegionConfig(mask=None if auto or not mask else mask, regions="auto" if auto else None,
                        region=tuple(item.regions.get("region", ())), **extra)


def default_regions(regions) -> dict[str, typing.Any]:
    """``batch``'s own ``--mask``/``--regions auto``/``--region``/``--feather``/``--no-refine-edges`` as an
    item's ``regions`` (paths made absolute, relative to the working folder): every input of a folder
    gets them, and a manifest row's own ``mask``, ``region`` or ``feather`` replaces that one."""
    if regions is None or not regions.active:
        return {}
    mask = "auto" if regions.regions == "auto" else str(Path(regions.mask).resolve())
    out: dict[str, typing.Any] = {"mask": mask}
    if regions.region:
        out["region"] = _region_specs(";".join(regions.region), Path.cwd())
    if regions.feather != RegionConfig().feather:
        out["feather"] = str(regions.feather)
    if not regions.refine_edges:
        out["refine_edges"] = False
    return out


def _region_files(specs) -> list[str]:
    """The paintings and model files that ``region`` settings name (inputs: never an output)."""
    files = []
    for spec in specs:
        value = spec.partition("=")[2].strip()
        head, colon, tail = value.rpartition(":")
        path = head if colon and head and tail.replace(".", "", 1).isdigit() else value
        if path and Path(path).is_file():
            files.append(path)
    return files


def _region_specs(text: str, base: Path) -> list[str]:
    """``a=x.jpg:0.5;b=none`` -> specs with the paintings' and model files' paths made absolute."""
    specs = []
    for spec in (s.strip() for s in text.split(";")):
        if not spec:
            continue
        name, sep, value = spec.partition("=")
        head, colon, tail = value.strip().rpartition(":")
        strength = colon and head and tail.replace(".", "", 1).isdigit()
        path, suffix = (head, f":{tail}") if strength else (value, "")
        path = path.strip()
        if sep and path and path.lower() != "none":
            candidate = Path(path).expanduser()
            candidate = candidate if candidate.is_absolute() else base / candidate
            if candidate.exists():
                path = str(candidate.resolve())
        specs.append(f"{name.strip()}{sep}{path}{suffix}")
    return specs


def resolve_ref(kind: str, ref: str, base: Path) -> str:
    """A painting or model file as an absolute path; a shipped model name stays a name."""
    path = Path(ref).expanduser()
    candidate = path if path.is_absolute() else base / path
    if candidate.exists() or kind != "model":
        return str(candidate.resolve())
    return ref


def item_config(item: Item, apply: ApplyConfig, stylize: StylizeConfig) -> ApplyConfig | StylizeConfig:
    """The settings one item is painted with: the run's config with the item's own options; raises
    ConfigError for an option that does not apply or a value the config rejects."""

    base: ApplyConfig | StylizeConfig = stylize if item.painting.kind == "gatys" else apply
    if not item.options:
        return base
    defaults = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    return config_from_options(type(base), item.painting.kind, item.options, defaults,
                               ", ".join(OPTION_COLUMNS))


def gatys_config(options: typing.Sequence[str], base: StylizeConfig) -> StylizeConfig:
    """``--gatys-options KEY=VALUE ...`` on top of ``base``."""

    defaults = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
    return config_from_options(StylizeConfig, "gatys", parse_options(",".join(options)), defaults,
                               "iterations, style_weight, optimizer, ...")


# --- folders ---------------------------------------------------------------------------------------
def plan_folder(source: Path, output_dir: Path, painting: Painting) -> list[Item]:
    """Every file under ``source`` (or the one file), named as ``brushwork apply`` names it."""
    out = output_dir.resolve()
    if source.resolve() == out:
        raise ConfigError(f"{source}: the output folder must not be the input folder (its photos would "
                          "count as finished outputs)")
    skipped: list[str] = []  # inputs apply would skip too (a pipe, an unwritable output): failed rows
    # overwrite=True: an existing output is the workers' call (kept unless --overwrite: the resume);
    # plan_jobs still refuses outputs that would replace an input.
    jobs = [j for j in plan_jobs([str(source)], output_dir, skipped=skipped, style=painting.slug,
                                 overwrite=True, protected=[painting.ref])
            if not j.source.resolve().is_relative_to(out)]
    items = []
    for index, job in enumerate(jobs):
        given = os.path.abspath(job.source)  # the path as given: a link is reported as the link
        error = f"{given}: a video: batch paints still images (use brushwork apply for videos)" \
            if job.video else ""
        items.append(Item(index, given, str(job.target.resolve()), painting, error=error))
    for message in skipped:
        items.append(Item(len(items), message.split(": ", 1)[0], "", painting, error=message))
    return items


# --- manifests -------------------------------------------------------------------------------------
def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV (header required) or JSON-lines manifest, values as stripped strings."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc})") from None
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not a JSON object ({exc})") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object per line")
            rows.append(record)
    cleaned = [{str(k).strip().lower(): ("" if v is None else str(v).strip()) for k, v in row.items()
                if k is not None} for row in rows]
    unknown = sorted({k for row in cleaned for k in row} - set(COLUMNS))
    if unknown:
        raise ConfigError(f"{path}: unknown manifest column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
    if cleaned and "input" not in cleaned[0]:
        raise ConfigError(f"{path}: the manifest needs an 'input' column")
    return cleaned


def _manifest_item(index: int, row: dict[str, str], base: Path, output_dir: Path,
                   default: Painting | None) -> Item:
    source = Path(row.get("input", "")).expanduser()
    if not row.get("input"):
        raise ConfigError(f"manifest row {index + 1}: empty input")
    source = Path(os.path.abspath(source if source.is_absolute() else base / source))  # a link stays one
    if row.get("output"):
        relative = Path(row["output"])
        if relative.is_absolute() or ".." in relative.parts:
            raise ConfigError(f"manifest row {index + 1}: output {relative} must be a path inside the output "
                              "folder")
    chosen = [k for k in PAINT_COLUMNS if row.get(k)]
    if len(chosen) > 1:
        raise ConfigError(f"manifest row {index + 1}: give one of model, style or gatys, "
                          f"not {' and '.join(chosen)}")
    painting = (Painting(KIND_OF_COLUMN[chosen[0]], resolve_ref(chosen[0], row[chosen[0]], base)) if chosen
                else default)
    if painting is None:
        raise ConfigError(f"manifest row {index + 1}: no model, style or gatys column and none given on the "
                          "command line")
    if not row.get("output"):
        inside = source.is_relative_to(base)
        relative = target_name(source.relative_to(base) if inside else Path(source.name), painting.slug)
    options = {k: row[k] for k in OPTION_COLUMNS if row.get(k)}
    regions: dict[str, typing.Any] = {}
    if row.get("mask"):
        mask = row["mask"]
        regions["mask"] = "auto" if mask.lower() == "auto" else str(
            (Path(mask).expanduser() if Path(mask).expanduser().is_absolute() else base / mask).resolve())
    if row.get("region"):
        regions["region"] = _region_specs(row["region"], base)
    if row.get("feather"):
        regions["feather"] = row["feather"]
    return Item(index, str(source), str((output_dir / relative).resolve()), painting, options,
                regions=regions)


def plan_manifest(path: Path, output_dir: Path, default: Painting | None) -> list[Item]:
    base = path.resolve().parent
    return [_manifest_item(i, row, base, output_dir, default) for i, row in enumerate(read_manifest(path))]


# --- the plan --------------------------------------------------------------------------------------
def plan_batch(source: str | Path, output_dir: str | Path, painting: Painting | None,
               apply: ApplyConfig | None = None, stylize: StylizeConfig | None = None,
               regions=None) -> list[Item]:
    """The items of a batch: ``source`` is a folder, an image file or a manifest (.csv/.jsonl);
    ``regions`` (a ``RegionConfig``) gives every item regions, a manifest row's own columns first.

    Raises ConfigError for a plan that cannot work (no such input, two items with one output);
    items whose own settings are wrong carry ``error`` instead."""
    source, output_dir = Path(source), Path(output_dir)
    if source.is_file() and source.suffix.lower() in MANIFEST_SUFFIXES:
        items = plan_manifest(source, output_dir, painting)
    elif source.exists():
        if painting is None:
            raise ConfigError("give what paints: --model NAME|FILE, --style PAINTING or --gatys PAINTING")
        items = plan_folder(source, output_dir, painting)
    else:
        raise ImageError(f"{source}: no such file or folder")
    defaults = default_regions(regions)
    if defaults:
        for item in items:
            item.regions = {**defaults, **item.regions}
    seen: dict[str, int] = {}
    for item in (i for i in items if i.target):
        if item.target in seen:
            raise ConfigError(f"inputs {seen[item.target] + 1} and {item.index + 1} would both be written to "
                              f"{item.target}; give them different outputs")
        seen[item.target] = item.index
    sources = {i.source for i in items} | {i.painting.ref for i in items if i.painting.kind != "model"
                                           or Path(i.painting.ref).is_file()}
    sources |= {i.regions["mask"] for i in items if i.regions.get("mask", "auto") != "auto"}
    sources |= {f for i in items for f in _region_files(i.regions.get("region", ()))}
    sources |= {str(Path(s).resolve()) for s in sources}  # inputs given through links
    for item in items:
        if item.target in sources:
            raise ConfigError(f"{item.target}: an output of the batch would replace one of its inputs; "
                              "give another output")
    for item in items:
        if not item.error:
            try:
                item_config(item, apply or ApplyConfig(), stylize or StylizeConfig())
                region_config(item)
            except BrushworkError as exc:
                item.error = str(exc)
    return items
