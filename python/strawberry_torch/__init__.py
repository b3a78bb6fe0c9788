"""strawberry_torch: Strawberry's scale-out backend. It trains LoRA adapters on the same YAML
configs and datasets as the Swift tool, through transformers + PEFT (GPUs, data-parallel), and
writes the same run directories, adapters and evaluation generations, so `strawberry eval
--adapter`, `strawberry train --resume`, `strawberry score` and `compare` read them unchanged.
"""
__version__ = "0.1.0"
