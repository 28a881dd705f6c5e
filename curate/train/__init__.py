"""LoRA SFT and continued pretraining on transformers + peft."""
