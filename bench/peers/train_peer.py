"""PyTorch + PEFT peer for `strawberry bench train`: the same LoRA configuration, batch and
optimizer, float32 weights, same thread count; with --autocast bf16 the forward runs under
torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN's bf16 kernels where the CPU has them), the
mixed precision a CPU user would pick. Prints one JSON object.

Synthetic part: batch × seq_len random tokens, loss on every position (labels = inputs, shifted by
the model). Recipe part (--data): the spelling dataset's first batch×40 examples, chat template +
completion + <|im_end|>, completion-only labels, padded per batch (as a DataCollator does), time
per step extrapolated to one epoch.
"""
import argparse, json, os, random, resource, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data")
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none")
    a = ap.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import LoraConfig, get_peft_model
    torch.set_num_threads(a.threads)
    if a.model.endswith(".gguf"):
        d, f = os.path.split(os.path.abspath(a.model))
        base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    else:
        base = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(a.model)
    targets = "all-linear" if a.targets == "all-linear" else a.targets.split(",")
    model = get_peft_model(base, LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    import contextlib
    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16) if a.autocast == "bf16" else contextlib.nullcontext()

    def step(ids, labels, mask=None):
        with autocast():
            out = model(input_ids=ids, labels=labels, attention_mask=mask)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step(); opt.zero_grad()

    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, base.config.vocab_size, (a.batch, a.seq_len), generator=g)
    step(ids, ids)
    t = time.perf_counter()
    for _ in range(a.steps): step(ids, ids)
    dt = (time.perf_counter() - t) / a.steps
    result = {"torch": torch.__version__, "autocast": a.autocast, "steps_per_second": 1 / dt, "tokens_per_second": a.batch * a.seq_len / dt}

    if a.data:
        rows = [json.loads(l) for l in open(os.path.join(a.data, "train.jsonl"))]
        end = tok.convert_tokens_to_ids("<|im_end|>")
        examples = []
        for r in rows[: a.batch * 40]:
            p = tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False, add_generation_prompt=True)
            pi = tok(p, add_special_tokens=False)["input_ids"]
            ci = tok(r["completion"], add_special_tokens=False)["input_ids"] + [end]
            examples.append((pi + ci, [-100] * len(pi) + ci))
        batches = []
        for i in range(0, len(examples), a.batch):
            chunk = examples[i:i + a.batch]
            T = max(len(x) for x, _ in chunk)
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            batches.append((torch.tensor([x + [pad] * (T - len(x)) for x, _ in chunk]),
                            torch.tensor([y + [-100] * (T - len(y)) for _, y in chunk]),
                            torch.tensor([[1] * len(x) + [0] * (T - len(x)) for x, _ in chunk])))
        step(*batches[0])
        t = time.perf_counter()
        for i in range(a.steps): step(*batches[(i + 1) % len(batches)])
        dt = (time.perf_counter() - t) / a.steps
        per_epoch = (len(rows) + a.batch - 1) // a.batch
        result["recipe"] = {"seconds_per_step": dt, "steps_per_epoch": per_epoch, "epoch_seconds": dt * per_epoch}
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result, sort_keys=True))

if __name__ == "__main__":
    sys.exit(main())
