"""After training: merge an adapter into its base, export for serving (GGUF, Ollama, vLLM), and
upload to the Hugging Face Hub with a model card.

    from tuitune.export import export_run, merge_run, upload
    merged = merge_run(run)                          # <run folder>/merged, a standalone model
    export_run(run, to="ollama", quant="q8_0")       # <run folder>/export: GGUF + Modelfile
    upload(run, "me/my-model", dry_run=True).card    # the README.md that would be uploaded

Importing this package is light; torch, transformers, peft and huggingface_hub load on use.
"""

from tuitune.export.merge import DTYPES, merge_adapter, merge_run
from tuitune.export.model_card import CardInfo, model_card
from tuitune.export.run_export import export_run
from tuitune.export.upload import UploadResult, upload
from tuitune.export.weights import RunWeights, run_weights

__all__ = [
    "DTYPES",
    "CardInfo",
    "RunWeights",
    "UploadResult",
    "export_run",
    "merge_adapter",
    "merge_run",
    "model_card",
    "run_weights",
    "upload",
]
