"""On a machine with an NVIDIA GPU: the GPU paths train for real (skipped elsewhere).

`pytest -m gpu` runs them; `benchmarks/gpu_suite.sh` runs them first, then measures. Each story
is one a GPU user lives: bf16 picked by itself, QLoRA in 4 bits, the training screen's GPU
readings, the model on the GPU, Liger and flash attention used where installed, packed batches
that stay apart on the GPU's kernels, torch.compile, batched evaluation.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import tuitune  # noqa: E402
from tuitune.config import ConfigBuilder  # noqa: E402
from tuitune.store import COMPLETED, open_store  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_suite.sh runs these)"),
]


def demo_run(name: str, **training) -> ConfigBuilder:
    settings = {"max_steps": 4, "batch_size": 4, "logging_steps": 1, "save_steps": 100}
    settings.update(training)
    return (
        ConfigBuilder().demo().name(name).data(max_length=128, max_samples=64, validation_split=0).training(**settings)
    )


def events(run_id: int) -> list[str]:
    return [event.message for event in open_store().events(run_id)]


def test_a_gpu_run_picks_bf16_by_itself_and_records_gpu_memory(demo_model_path: Path) -> None:
    from tuitune.engine.arguments import resolve_precision
    from tuitune.models.loading import describe_precision

    config = demo_run("gpu-bf16").lora(r=8).build()
    expected = (False, True) if torch.cuda.is_bf16_supported() else (True, False)
    assert resolve_precision(config) == expected
    assert describe_precision(config.model) == ("bfloat16" if expected[1] else "float16")

    result = tuitune.train(config)

    assert result.status == COMPLETED and result.steps_completed == 4
    points = open_store().metric_points(result.run_id)
    losses = [p.loss for p in points if p.loss is not None]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert any(p.gpu_memory_gb and p.gpu_memory_gb > 0 for p in points)


def test_qlora_trains_a_4bit_base_on_the_gpu(demo_model_path: Path) -> None:
    import bitsandbytes as bnb

    from tuitune.models.loading import load_model

    config = demo_run("gpu-qlora").method("qlora").build()
    assert config.model.load_in_4bit

    model = load_model(config.model, for_training=True)
    four_bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit and all(m.weight.device.type == "cuda" for m in four_bit)
    del model

    result = tuitune.train(config)
    assert result.status == COMPLETED and result.weights_dir
    assert (Path(result.weights_dir) / "adapter_model.safetensors").is_file()


def test_the_training_screen_reads_the_gpu_through_nvml() -> None:
    from tuitune.system.gpu import gpus
    from tuitune.tui.services import AppService

    readings = gpus()
    assert readings, "NVML sees no GPU although CUDA does"
    held = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")  # 256 MiB this process holds
    reading = AppService().memory_reading(pid=None)
    assert reading is not None and reading.label.startswith("GPU 0 ")
    assert reading.total_gb and reading.total_gb > 1
    assert reading.used_gb is not None and reading.used_gb >= 0.25
    assert reading.utilization_percent is None or 0 <= reading.utilization_percent <= 100
    del held


def test_models_load_onto_the_gpu_with_a_device_map(demo_model_path: Path) -> None:
    from tuitune.models.loading import load_model

    settings = ConfigBuilder().demo().build().model
    for_training = load_model(settings, for_training=True)
    assert {p.device for p in for_training.parameters()} == {torch.device("cuda", 0)}
    assert for_training.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    for_generation = load_model(settings, for_training=False)
    assert set(for_generation.hf_device_map.values()) <= {0, "cuda:0"}
    pinned = load_model(settings, for_training=False, device="cuda:0")
    assert next(pinned.parameters()).device == torch.device("cuda", 0)


def test_packing_auto_follows_the_gpus_attention(demo_model_path: Path) -> None:
    result = tuitune.train(demo_run("gpu-auto-batching").build())

    assert result.status == COMPLETED
    chosen = [m for m in events(result.run_id) if m.startswith("batching:")]
    assert len(chosen) == 1
    if importlib.util.find_spec("flash_attn") is not None and torch.cuda.get_device_capability() >= (8, 0):
        assert chosen[0].startswith("batching: packing (auto: flash_attention_2")
        assert any(m.startswith("attention: flash_attention_2") for m in events(result.run_id))
    else:
        assert chosen[0].startswith("batching: length-grouped padding (auto: sdpa on cuda")


@pytest.mark.parametrize("attention", ["sdpa", "flash_attention_2"])
def test_packed_samples_stay_apart_on_the_gpu(demo_model_path: Path, attention: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tuitune.data import IGNORE_INDEX, make_collator

    if attention == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash-attn is not installed")
    tokenizer = AutoTokenizer.from_pretrained(str(demo_model_path))
    dtype = torch.bfloat16 if attention.startswith("flash") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        str(demo_model_path), attn_implementation=attention, dtype=dtype
    ).cuda()
    texts = ["Hello there, how are you today?", "Short one.", "A third sample, a bit longer than the others."]
    rows = [{"input_ids": tokenizer(t)["input_ids"]} for t in texts]
    for row in rows:
        row["labels"] = [IGNORE_INDEX, *row["input_ids"][1:]]
    packed = {k: v.cuda() if hasattr(v, "cuda") else v for k, v in make_collator(tokenizer, packing=True)(rows).items()}
    with torch.no_grad():
        logits = model(**packed).logits.float()
        start = 0
        for row in rows:
            n = len(row["input_ids"])
            alone = model(input_ids=torch.tensor([row["input_ids"]], device="cuda")).logits.float()
            tolerance = 3e-2 if dtype == torch.bfloat16 else 1e-4
            torch.testing.assert_close(logits[0, start : start + n], alone[0], atol=tolerance, rtol=tolerance)
            start += n


@pytest.mark.skipif(
    importlib.util.find_spec("liger_kernel") is None,
    reason="liger-kernel is not installed (pip install 'tuitune[gpu]')",
)
def test_liger_kernels_are_used_where_installed_and_learn_the_same(demo_model_path: Path) -> None:
    fused = tuitune.train(demo_run("gpu-liger").build())
    plain = tuitune.train(demo_run("gpu-no-liger", use_liger_kernel=False).build())

    assert fused.status == plain.status == COMPLETED
    assert any(m.startswith("Liger kernels on") for m in events(fused.run_id))
    assert not any(m.startswith("Liger kernels on") for m in events(plain.run_id))
    first = [next(p.loss for p in open_store().metric_points(r.run_id) if p.loss is not None) for r in (fused, plain)]
    # Same seed, same first batch, same objective: the fused loss is the plain loss (bf16 rounding aside).
    assert first[0] == pytest.approx(first[1], rel=2e-2)


def test_torch_compile_trains_on_the_gpu(demo_model_path: Path) -> None:
    result = tuitune.train(demo_run("gpu-compiled", torch_compile=True, max_steps=3).build())

    assert result.status == COMPLETED
    assert any(m.startswith("torch.compile on") for m in events(result.run_id))


def test_batched_evaluation_generates_what_one_at_a_time_does_on_the_gpu(demo_model_path: Path) -> None:
    from tuitune.evaluation.generation import generate
    from tuitune.models.loading import load_model, load_tokenizer

    settings = ConfigBuilder().demo().model(dtype="float32").build().model
    model = load_model(settings, for_training=False).eval()
    tokenizer = load_tokenizer(settings)
    prompts = [f"<|im_start|>user\nName {n} colours.<|im_end|>\n<|im_start|>assistant\n" for n in range(1, 9)]
    batched = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=8, add_special_tokens=False)
    alone = generate(model, tokenizer, prompts, max_new_tokens=12, batch_size=1, add_special_tokens=False)
    assert batched == alone
