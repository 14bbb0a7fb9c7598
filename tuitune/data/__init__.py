"""The data pipeline: sources, format detection, templates, tokenization, collation, statistics.

    read_source -> parse_records (canonical Conversation / Document) -> split_examples
    -> get_template + tokenize_examples -> datasets.Dataset + make_collator

The preference formats (preference, labelled, prompts) read into `PreferencePair`,
`LabelledAnswer` and `PromptExample` records, which `prepare_dataset(..., objective=...)`
renders into the string columns TRL's trainers read (preference.py).

`prepare_dataset(settings, tokenizer, method=...)` does all of it for the training engine;
`convert_dataset` writes a dataset out in another format. Importing this package is light: torch,
transformers and datasets are imported only by the functions that need them.
"""

from tuitune.data.collate import PaddingCollator, make_collator
from tuitune.data.convert import CONVERT_TARGETS, Conversion, convert_dataset, to_record
from tuitune.data.examples import (
    Conversation,
    Document,
    Example,
    LabelledAnswer,
    Message,
    PreferencePair,
    PreferenceRecord,
    PromptExample,
)
from tuitune.data.formats import FORMATS, ParsedData, detect_format, parse_records
from tuitune.data.preference import PreferencePreview
from tuitune.data.prepare import PreparedDataset, prepare_dataset
from tuitune.data.preview import PreviewSample, preview_example
from tuitune.data.sources import RecordTable, read_source, sample_dataset_path
from tuitune.data.split import LoadedData, load_examples, split_examples, validation_examples, validation_records
from tuitune.data.stats import DatasetStats, TokenLengths
from tuitune.data.templates import TEMPLATES, Segment, Template, get_template
from tuitune.data.tokenize import IGNORE_INDEX, TokenizedExample, tokenize_example, tokenize_examples

__all__ = [
    "CONVERT_TARGETS",
    "FORMATS",
    "IGNORE_INDEX",
    "TEMPLATES",
    "Conversation",
    "Conversion",
    "DatasetStats",
    "Document",
    "Example",
    "LabelledAnswer",
    "LoadedData",
    "Message",
    "PaddingCollator",
    "ParsedData",
    "PreferencePair",
    "PreferencePreview",
    "PreferenceRecord",
    "PreparedDataset",
    "PreviewSample",
    "PromptExample",
    "RecordTable",
    "Segment",
    "Template",
    "TokenLengths",
    "TokenizedExample",
    "convert_dataset",
    "detect_format",
    "get_template",
    "load_examples",
    "make_collator",
    "parse_records",
    "prepare_dataset",
    "preview_example",
    "read_source",
    "sample_dataset_path",
    "split_examples",
    "to_record",
    "tokenize_example",
    "tokenize_examples",
    "validation_examples",
    "validation_records",
]
