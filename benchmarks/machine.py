"""The machine a benchmark ran on, one way for every benchmark: CPU model, the features that pick
kernels, torch's capability and the ISA caps in the environment (figures hold only on that CPU kind)."""

from __future__ import annotations

import os
import platform

import torch

from brushwork.fast.engines import cpu_features, cpu_model


def describe() -> dict:
    """What the JSON of a benchmark records as ``cpu``."""
    return {"model": cpu_model(), "cores": os.cpu_count(), "machine": platform.machine(),
            "flags": cpu_features(), "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY", "")}


def header(info: dict | None = None, engine: str = "") -> str:
    """One line for the top of a benchmark's table; ``engine``: what ran and in which precision."""
    info = info or describe()
    caps = ", ".join(f"{k}={info[k]}" for k in ("onednn_max_cpu_isa", "aten_cpu_capability") if info[k])
    return (f"cpu: {info['model']} ({info['cores']} cores; {' '.join(info['flags']) or 'no AVX2'}); "
            f"torch capability {info['torch_capability']}" + (f"; capped: {caps}" if caps else "")
            + (f"; engine: {engine}" if engine else ""))
