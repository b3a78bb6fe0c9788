"""LoRA training references from PyTorch + PEFT on the tiny fixture models.

Pinned: torch==2.15.0, transformers==5.23.0, peft==0.21.2, safetensors==0.8.0.
Usage: cd Tests/Fixtures && python make_training_fixtures.py   (after make_fixtures.py)

For each architecture, training/<arch>/:
  case.json             token sequences, per-position targets (-100 = no loss), loss, target count
  lora_init.safetensors LoRA factors (PEFT keys) the Swift side starts from (random, B != 0)
  grads.safetensors     d(mean loss)/d(factor) for every factor
For llama also ten AdamW steps (cosine schedule with warmup, accumulation 2, clipping 1.0):
  steps.json            micro-batches, hyper-parameters, loss of every optimizer step
  peft_adapter/         the adapter after those steps, saved by PEFT (save_pretrained)
  adapter_logits.json   logits of base + that adapter on a fixed input
"""
import json, math, os
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

torch.manual_seed(0)
TARGETS = {"gpt2": ["c_attn", "c_proj", "c_fc"],
           "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
           "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
PAIRS = [("Spell the word 'straw'.", "s-t-r-a-w"), ("How do you spell queue?", "queue is spelled q u e u e."),
         ("Spell 'berry'.", "b-e-r-r-y"), ("What are the letters in 'fox'?", "f, o, x")]


def example(tok, prompt, completion):
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    c = tok(completion, add_special_tokens=False)["input_ids"]
    ids = p + c
    labels = [ids[t + 1] if t + 1 >= len(p) and t + 1 < len(ids) else -100 for t in range(len(ids))]
    return ids, labels


def batch_loss(model, seqs):
    """Summed CE over targets of a list of (ids, labels) sequences, one forward each (no padding)."""
    total = 0.0
    for ids, labels in seqs:
        logits = model(torch.tensor([ids])).logits[0]
        lab = torch.tensor(labels)
        total = total + torch.nn.functional.cross_entropy(logits, lab, ignore_index=-100, reduction="sum")
    return total


def peft_model(arch, r=4, alpha=8.0):
    base = AutoModelForCausalLM.from_pretrained(f"models/{arch}", dtype=torch.float32).eval()
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=TARGETS[arch],
                     fan_in_fan_out=(arch == "gpt2"), task_type="CAUSAL_LM")
    m = get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return m


def lora_state(m):
    return {n.replace(".default", ""): p.detach().clone().contiguous() for n, p in m.named_parameters() if "lora_" in n}


def gradient_case(arch):
    d = f"training/{arch}"
    os.makedirs(d, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(f"models/{arch}")
    m = peft_model(arch)
    seqs = [example(tok, *PAIRS[0]), example(tok, *PAIRS[1])]
    n = sum(sum(1 for t in l if t >= 0) for _, l in seqs)
    loss = batch_loss(m, seqs) / n
    loss.backward()
    save_file(lora_state(m), f"{d}/lora_init.safetensors")
    save_file({k.replace(".default", ""): p.grad.contiguous() for k, p in m.named_parameters() if "lora_" in k}, f"{d}/grads.safetensors")
    json.dump({"sequences": [s for s, _ in seqs], "labels": [l for _, l in seqs], "loss": loss.item(), "targets": n,
               "r": 4, "alpha": 8.0, "target_modules": TARGETS[arch]}, open(f"{d}/case.json", "w"), indent=1, sort_keys=True)


def optimizer_case():
    arch = "llama"
    d = f"training/{arch}"
    tok = AutoTokenizer.from_pretrained(f"models/{arch}")
    m = peft_model(arch)
    params = [p for n, p in m.named_parameters() if p.requires_grad]
    hp = {"lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "warmup_steps": 2, "steps": 10,
          "accumulation": 2, "max_grad_norm": 1.0, "schedule": "cosine"}
    opt = torch.optim.AdamW(params, lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"], weight_decay=hp["weight_decay"])
    sched = get_cosine_schedule_with_warmup(opt, hp["warmup_steps"], hp["steps"])
    micro = [[example(tok, *PAIRS[i])] + [example(tok, *PAIRS[(i + 1) % 4])] for i in range(4)]
    losses, grad_norms = [], []
    for step in range(hp["steps"]):
        window = [micro[(step * 2 + k) % 4] for k in range(hp["accumulation"])]
        n = sum(sum(1 for t in l if t >= 0) for mb in window for _, l in mb)
        total = 0.0
        for mb in window:
            loss = batch_loss(m, mb) / n       # normalised by the targets of the whole accumulation window
            loss.backward()
            total += loss.item()
        grad_norms.append(torch.nn.utils.clip_grad_norm_(params, hp["max_grad_norm"]).item())
        opt.step(); sched.step(); opt.zero_grad()
        losses.append(total)
    json.dump({"hyper": hp, "micro_batches": [[{"ids": i, "labels": l} for i, l in mb] for mb in micro],
               "losses": losses, "grad_norms": grad_norms}, open(f"{d}/steps.json", "w"), indent=1, sort_keys=True)
    m.save_pretrained(f"{d}/peft_adapter")
    probe = tok("How many r's are in the word 'strawberry'?", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = m(torch.tensor([probe])).logits[0]
    json.dump({"ids": probe, "logits": logits.flatten().tolist()}, open(f"{d}/adapter_logits.json", "w"), sort_keys=True)
    # Reproducible bytes: drop the README PEFT writes (it carries library versions and prose).
    if os.path.exists(f"{d}/peft_adapter/README.md"): os.remove(f"{d}/peft_adapter/README.md")


if __name__ == "__main__":
    for arch in TARGETS: gradient_case(arch)
    optimizer_case()
    from make_fixtures import manifest
    manifest()
    print("ok")
