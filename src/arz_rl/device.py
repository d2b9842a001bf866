"""One device vocabulary, from the configuration to the simulator.

- What a run asks for (config ``device``, ``python -m arz_rl.run --device``): ``auto`` | ``cpu`` | ``gpu``.
- What it runs on, decided once by :func:`resolve` in the kernel, where the hardware is known,
  and recorded in ``training_metrics.json`` and ``evaluation_results.json``: ``cpu`` | ``gpu``.
  ``auto`` is the GPU when the machine has one, else the CPU; ``gpu`` without one is an error.
- Where a batch of corridors is simulated (:class:`arz_rl.sim.Simulator`): ``device`` ``cpu`` |
  ``gpu`` and the engine, ``numba`` (CPU only) or ``torch``; on a GPU run the batched training
  env times both and keeps the faster (:func:`arz_rl.vec_env.pick_engine`).

torch's own names (``cuda``) appear only where torch is called (:func:`torch_name`).  Whether a
backend provisions a GPU for a run is the workflow's side of the same rule (``gpu`` only), in
:func:`kernel_runner.backends.base.provisions_gpu`.
"""

from __future__ import annotations

from typing import Any

REQUESTS = ("auto", "cpu", "gpu")  #: what a run may ask for
DEVICES = ("cpu", "gpu")  #: what it runs on


def torch_name(device: str) -> str:
    """torch's name of a resolved device: ``cuda`` for ``gpu``, ``cpu`` for ``cpu``."""
    if device not in DEVICES:
        raise ValueError(f"device={device!r}: a resolved device is one of {DEVICES}")
    return "cuda" if device == "gpu" else "cpu"


def resolve(requested: str) -> dict[str, Any]:
    """The device a run uses for ``requested`` (auto | cpu | gpu), decided on this machine:
    ``{"requested", "device", "gpu_name", "torch", "cpu_threads"}``."""
    import torch

    if requested not in REQUESTS:
        raise ValueError(f"device={requested!r}: allowed {REQUESTS}")
    cuda = torch.cuda.is_available()
    if requested == "gpu" and not cuda:
        raise RuntimeError("device=gpu requested but torch sees no CUDA GPU on this machine: use device=cpu or auto")
    device = "gpu" if requested == "gpu" or (requested == "auto" and cuda) else "cpu"
    return {"requested": requested, "device": device,
            "gpu_name": torch.cuda.get_device_name(0) if device == "gpu" else None,
            "torch": torch.__version__, "cpu_threads": torch.get_num_threads()}
