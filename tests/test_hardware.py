"""--precision auto: which Keras policy each CPU class and GPU generation gets, and why (no GPU needed)."""

import pytest

from convlab import hardware


@pytest.mark.parametrize("flags, capability, policy, why", [
    ({"avx2", "fma"}, None, "float32", "CPU has no native bfloat16"),  # most laptops
    ({"avx2", "avx512f"}, None, "float32", "CPU has no native bfloat16"),  # AVX-512 without bfloat16
    ({"avx2", "avx512f", "avx512_bf16"}, None, "mixed_bfloat16", "CPU has AVX512_BF16"),  # e.g. AMD Zen 4
    ({"avx512_bf16", "amx_bf16"}, None, "mixed_bfloat16", "CPU has AMX_BF16, AVX512_BF16"),  # Sapphire Rapids
    (set(), (9, 0), "mixed_bfloat16", "GPU with compute capability 9.0"),  # Hopper
    (set(), (8, 0), "mixed_bfloat16", "GPU with compute capability 8.0"),  # Ampere, the first with bfloat16
    ({"avx512_bf16"}, (7, 5), "mixed_float16", "GPU with compute capability 7.5"),  # the GPU decides, not the CPU
    (set(), (7, 0), "mixed_float16", "GPU with compute capability 7.0"),  # Volta's tensor cores
    ({"avx512_bf16"}, (6, 1), "float32", "GPU without fast 16-bit math"),  # Pascal
])
def test_auto_precision_from_cpu_flags_and_gpu_capability(flags, capability, policy, why):
    assert hardware.auto_precision(flags, capability) == (policy, why)


def test_choose_precision_asks_about_this_machine_only_for_auto(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(hardware, "gpu_capability", lambda: (8, 6))
    assert hardware.choose_precision("auto") == ("mixed_bfloat16", "GPU with compute capability 8.6")
    assert hardware.choose_precision("float16") == ("mixed_float16", "requested")
    assert hardware.choose_precision("float32") == ("float32", "requested")


def test_cpuinfo_field(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n")
    assert hardware.cpuinfo_field("model name", path) == "AMD EPYC 7B13"
    assert hardware.cpuinfo_field("flags", path) == "fpu avx2 fma"
    assert hardware.cpuinfo_field("bogomips", path) is None
    assert hardware.cpuinfo_field("flags", tmp_path / "none") is None
