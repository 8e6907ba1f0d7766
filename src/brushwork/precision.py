"""bfloat16 where the CPU has the hardware for it: one rule for every PyTorch path.

On CPUs with AMX tiles or AVX-512 BF16, oneDNN runs bf16 convolutions several times faster than
fp32 (measured here: a 512 px Gatys step 5x, a 640x360 fast-network frame 2x). Elsewhere bf16 is
emulated and slower, so ``auto`` means bf16 only where it is native. Autocast keeps reductions,
norms and losses in fp32, and the optimised picture stays fp32.
"""

from __future__ import annotations

import contextlib
import os

import torch

#: ``ONEDNN_MAX_CPU_ISA`` values that still allow oneDNN's bfloat16 kernels (oneDNN's ISA names; an
#: unset variable, ``ALL`` or ``DEFAULT`` allows everything the CPU has).
BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
             "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT")


def isa_cap() -> str | None:
    """The ISA oneDNN is limited to (``ONEDNN_MAX_CPU_ISA``, upper case), or None when unlimited."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return cap if cap and cap not in ("ALL", "DEFAULT") else None


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX tiles or AVX-512 BF16) and oneDNN may use
    it: ``ONEDNN_MAX_CPU_ISA=AVX2`` (how an AVX2 laptop is emulated on a bigger CPU) rules it out, as
    bf16 there is emulated and many times slower (measured: a 512 px fast network 54 ms fp32, 9 s bf16).
    """
    cap = isa_cap()
    if cap is not None and cap not in BF16_ISAS:
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def use_bf16(precision: str, device: torch.device | str = "cpu") -> bool:
    """A config's ``precision`` resolved for ``device`` (bf16 autocast is a CPU path here)."""
    return torch.device(device).type == "cpu" and (
        precision == "bf16" or (precision == "auto" and native_bf16()))


def arithmetic(bf16: bool) -> contextlib.AbstractContextManager:
    """The autocast context for ``bf16`` (a no-op for fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
