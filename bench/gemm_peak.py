"""This CPU's matmul ceiling per CPU-second, fp32 against bf16, at SmolLM2-135M's layer shapes
(issue 15: how far can a CPU scorer go on the same tokens?). One thread, best of 3 x 20 calls.

    python bench/gemm_peak.py
"""

from __future__ import annotations

import resource

import torch

SHAPES = [(1024, 576, 1536), (1024, 1536, 576), (1024, 576, 576), (4096, 576, 1536)]  # tokens x in x out


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    torch.set_num_threads(1)
    for dt in (torch.float32, torch.bfloat16):
        for m, k, n in SHAPES:
            a, b = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt)
            for _ in range(3):
                a @ b
            best = float("inf")
            for _ in range(3):
                c0 = cpu()
                for _ in range(20):
                    a @ b
                best = min(best, (cpu() - c0) / 20)
            print(f"{dt!s:15s} {m}x{k}x{n}: {2 * m * k * n / best / 1e9:.0f} GFLOPS per CPU-second")


if __name__ == "__main__":
    main()
