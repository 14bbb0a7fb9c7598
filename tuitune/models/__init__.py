"""Models: loading and quantization, LoRA targets, inspection, memory estimates, recommendations
and the built-in demo model. Each module imports torch/transformers inside its functions only."""
