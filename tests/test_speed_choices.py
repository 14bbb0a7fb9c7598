"""tuitune chooses the fast path for the user: packing or padding, Liger kernels, torch.compile.

The choice of `packing: auto` is pinned here against the figures in docs/benchmarks.md ("Packing
or padding"); a run says what it chose in its events, and a CPU run is exactly what it was before
the GPU options existed (no Liger, no compile, length-grouped padding).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tuitune
from tuitune.config import ConfigBuilder, RunConfig, parse_config
from tuitune.data.collate import PackingCollator, PaddingCollator, choose_packing, make_collator
from tuitune.errors import IncompatibleConfigError, InvalidConfigError
from tuitune.store import COMPLETED, open_store


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("parameters", [1_000_000, 11_000_000, 494_000_000, 8_000_000_000])
def test_dense_mask_attention_trains_padded_batches(device: str, parameters: int) -> None:
    # sdpa and eager score a packed batch as one row: measured slower than padding at every size.
    for attention in ("sdpa", "eager", None):
        packing, why = choose_packing(device=device, attention=attention, parameters=parameters)
        assert packing is False
        assert "padding" in why


@pytest.mark.parametrize("attention", ["flash_attention_2", "flash_attention_3", "flex_attention"])
def test_kernels_that_keep_samples_apart_train_packed_batches_on_a_gpu(attention: str) -> None:
    packing, why = choose_packing(device="cuda", attention=attention, parameters=494_000_000)
    assert packing is True
    assert attention in why
    # On a CPU nothing but a dense mask has been measured: padding.
    assert choose_packing(device="cpu", attention=attention, parameters=494_000_000)[0] is False


def test_packing_is_auto_by_default_and_says_so_in_one_line() -> None:
    assert RunConfig().data.packing == "auto"
    assert parse_config({"data": {"packing": "auto"}}).data.packing == "auto"
    assert parse_config({"data": {"packing": True}}).data.packing is True
    assert parse_config({"data": {"packing": "off"}}).data.packing is False
    saved = parse_config(RunConfig().to_dict())
    assert saved.data.packing == "auto" and saved.training.use_liger_kernel == "auto"
    with pytest.raises(InvalidConfigError) as refused:
        parse_config({"data": {"packing": "sometimes"}})
    assert str(refused.value) == "data.packing in config: must be true, false or auto (got 'sometimes')."


def test_an_undecided_auto_pads(demo_model_path: Path) -> None:
    from tuitune.models.loading import load_tokenizer

    tokenizer = load_tokenizer(RunConfig().model)
    assert isinstance(make_collator(tokenizer, packing="auto"), PaddingCollator)
    assert isinstance(make_collator(tokenizer, packing=True), PackingCollator)


def test_the_cpu_path_has_no_liger_and_no_compile(tmp_path: Path) -> None:
    from tuitune.engine.arguments import training_arguments
    from tuitune.engine.speed import use_liger_kernel

    config = ConfigBuilder().demo().build()
    arguments = training_arguments(config, tmp_path, has_validation=False)
    assert use_liger_kernel(config, "cpu") is False
    assert arguments.use_liger_kernel is False
    assert arguments.torch_compile is False
    assert arguments.train_sampling_strategy == "group_by_length"

    compiled = ConfigBuilder().demo().training(torch_compile=True).data(packing=True).build()
    arguments = training_arguments(compiled, tmp_path, has_validation=False)
    assert arguments.torch_compile is True
    assert arguments.train_sampling_strategy == "random"


def test_liger_on_a_machine_without_it_or_without_cuda_is_refused_in_one_line() -> None:
    import importlib.util

    from tuitune.engine.speed import use_liger_kernel

    if importlib.util.find_spec("liger_kernel") is None:
        with pytest.raises(
            IncompatibleConfigError, match="liger-kernel is not installed: pip install 'tuitune\\[gpu\\]'"
        ):
            ConfigBuilder().demo().training(use_liger_kernel=True).build()
    # A config written where liger-kernel is installed, run by a worker without CUDA.
    config = ConfigBuilder().demo().build()
    object.__setattr__(config.training, "use_liger_kernel", True)
    with pytest.raises(IncompatibleConfigError, match="needs a CUDA GPU"):
        use_liger_kernel(config, "cpu")


@pytest.mark.slow
def test_a_run_says_which_batching_auto_chose_and_trains_with_it(demo_model_path: Path) -> None:
    config = (
        ConfigBuilder()
        .demo()
        .name("auto-batching")
        .data(max_length=128, max_samples=64, validation_split=0)
        .training(max_steps=3, batch_size=4, logging_steps=1, save_steps=100)
        .build()
    )
    result = tuitune.train(config)

    assert result.status == COMPLETED
    events = [event.message for event in open_store().events(result.run_id)]
    chosen = [message for message in events if message.startswith("batching:")]
    assert chosen == [
        "batching: length-grouped padding (auto: sdpa on cpu scores a packed batch as one long row, "
        "so length-grouped padding is faster at 1M parameters)"
    ]
    assert not any("Liger" in message or "torch.compile" in message for message in events)
    # config.yaml keeps what the user asked; the events say what it became.
    saved = tuitune.load_config(Path(result.output_dir) / "config.yaml")
    assert saved.data.packing == "auto"

    # Asked for explicitly, packing is what trains, and nothing is chosen on the user's behalf.
    packed = tuitune.train(
        config.model_copy(update={"name": "packed", "data": config.data.model_copy(update={"packing": True})})
    )
    assert packed.status == COMPLETED
    assert not any(event.message.startswith("batching:") for event in open_store().events(packed.run_id))
