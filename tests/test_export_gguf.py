"""A GGUF written by tuitune computes what the model it came from computes.

Each file is read back by transformers (as llama.cpp reads it: its tensor names, its q/k layout,
its tokenizer keys) and compared on real text: the logits at F32 and F16, the greedy tokens at
Q8_0 and Q4_0, and the token ids of both tokenizers. The models are the demo model trained for a
few steps (Llama: q/k permuted, separate output layer) and a random Qwen2 (tied embeddings,
attention biases, Qwen's own split pattern, no permutation). A writer that skips the q/k
permutation must fail the F32 check: that is the error that makes a file "only slightly off".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gguf_models import CORPUS, build_qwen2
from tuitune.errors import ExportError
from tuitune.export.gguf.roundtrip import RoundTrip, round_trip
from tuitune.export.gguf.vocab import Vocabulary, read_vocabulary
from tuitune.export.gguf.writer import write_gguf

pytestmark = pytest.mark.slow

TEXTS = [*CORPUS, "Greet Grace and mention books.\n\n### Response:\nHello Grace, it is good to see you."]
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_qwen2(tmp_path_factory.mktemp("qwen2") / "model")


@pytest.fixture(scope="module")
def trained_llama(tmp_path_factory: pytest.TempPathFactory, shared_models_dir: Path, demo_model_path: Path) -> Path:
    """The demo model fully fine-tuned on the greetings for a few steps: peaked logits, as a
    trained model has (an untrained one's near-ties make greedy agreement a coin toss at 4 bits)."""
    import tuitune
    from tests.trained_runs import greeting_config, home_env, new_home, write_greetings
    from tuitune.store import COMPLETED

    home = new_home(tmp_path_factory, shared_models_dir, "gguf-home")
    with home_env(home):
        data = write_greetings(home / "greetings.jsonl")
        result = tuitune.train(greeting_config(data, method="full_finetuning", max_steps=20, name="full").build())
    assert result.status == COMPLETED
    folder = Path(result.output_dir) / "model"
    assert (folder / "config.json").is_file()
    return folder


def vocabulary_of(folder: Path) -> Vocabulary:
    from transformers import AutoTokenizer

    config = json.loads((folder / "config.json").read_text())
    return read_vocabulary(folder, AutoTokenizer.from_pretrained(folder), config["vocab_size"], chat_template=TEMPLATE)


def written(folder: Path, tmp_path: Path, quant: str, *, permute: bool = True) -> RoundTrip:
    out = tmp_path / f"model-{quant}.gguf"
    write_gguf(folder, out, quant=quant, vocabulary=vocabulary_of(folder), name="test", permute=permute)
    return round_trip(folder, out, TEXTS, quant=quant, add_special_tokens=True)


@pytest.mark.parametrize("quant", ["f32", "f16", "q8_0", "q4_0"])
@pytest.mark.parametrize("model", ["trained_llama", "qwen2"])
def test_each_quantization_reads_back_as_the_same_model(
    model: str, quant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    check = written(request.getfixturevalue(model), tmp_path, quant)
    assert check.tokens_equal, check.line()
    assert check.positions > 100
    if quant == "f32":
        assert check.max_abs_logit_diff <= 1e-5, check.line()
    elif quant == "f16":
        assert check.max_abs_logit_diff <= 1e-2, check.line()
    elif quant == "q8_0":
        assert check.greedy_agreement >= 0.99, check.line()
    else:
        assert check.greedy_agreement >= 0.80, check.line()
    assert check.passed, check.line()


def test_a_writer_without_the_qk_permutation_fails_the_f32_check(trained_llama: Path, tmp_path: Path) -> None:
    check = written(trained_llama, tmp_path, "f32", permute=False)
    assert not check.passed
    assert check.max_abs_logit_diff > 1e-3, check.line()  # off, and far past the 1e-5 bar
    assert check.tokens_equal  # the vocabulary is right: the weights are what is wrong


def test_the_metadata_holds_the_tokenizer_the_chat_template_and_the_end_of_turn_tokens(
    trained_llama: Path, qwen2: Path, tmp_path: Path
) -> None:
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    for folder, pre in ((trained_llama, "gpt-2"), (qwen2, "qwen2")):
        out = tmp_path / f"{folder.parent.name}.gguf"
        write_gguf(folder, out, quant="q8_0", vocabulary=vocabulary_of(folder), name="test")
        fields = GGUFReader(out).fields
        tokenizer = AutoTokenizer.from_pretrained(folder)

        def value(key: str, fields=fields):
            return fields[key].contents()

        assert value("tokenizer.chat_template") == TEMPLATE
        assert value("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
        assert value("tokenizer.ggml.eot_token_id") == tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert value("tokenizer.ggml.pre") == pre
        assert value("tokenizer.ggml.model") == "gpt2"
        tokens = value("tokenizer.ggml.tokens")
        assert tokens[: len(tokenizer)] == tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))


def test_an_architecture_tuitune_cannot_write_is_refused_in_one_line(tmp_path: Path, qwen2: Path) -> None:
    import shutil

    folder = tmp_path / "gemma"
    shutil.copytree(qwen2, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gemma2"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError) as refused:
        write_gguf(folder, tmp_path / "x.gguf", quant="q8_0", vocabulary=vocabulary_of(qwen2), name="x")
    message = str(refused.value)
    assert "\n" not in message and "gemma2" in message and "vllm" in message
    assert not (tmp_path / "x.gguf").exists()
