"""PyTorch/transformers peer for `strawberry bench generate`: the same measurements on the same
weights (GGUF dequantized to float32 by transformers), same thread count. Prints one JSON object.

Needs: torch, transformers, gguf, accelerate (pip). Used automatically by the bench when importable.
"""
import argparse, json, os, resource, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # keep stderr free of progress bars
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache
    torch.set_num_threads(a.threads)
    if a.model.endswith(".gguf"):
        d, f = os.path.split(os.path.abspath(a.model))
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    else:
        model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(a.model)
    base = tok("The quick brown fox jumps over the lazy dog while counting the letters of strawberry. " * 64,
               add_special_tokens=False)["input_ids"]
    prompt = torch.tensor([[base[i % len(base)] for i in range(a.prompt_tokens)]])

    def best(fn):
        return min(fn() for _ in range(max(a.repeats, 1)))

    def prefill(keep):
        t = time.perf_counter()
        model(prompt, logits_to_keep=keep)
        return time.perf_counter() - t

    def decode(batch):
        ids = torch.stack([prompt[0, i * 7:i * 7 + 16] for i in range(batch)])
        cache = DynamicCache()
        out = model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t = time.perf_counter()
        for _ in range(a.new_tokens):
            out = model(nxt, past_key_values=out.past_key_values, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        return time.perf_counter() - t

    with torch.inference_mode():
        p_all, p_last = best(lambda: prefill(0)), best(lambda: prefill(1))
        d1, db = best(lambda: decode(1)), best(lambda: decode(a.batch))
    print(json.dumps({
        "torch": torch.__version__, "threads": a.threads,
        "prefill_tokens_per_second": a.prompt_tokens / p_all,
        "prefill_last_logits_tokens_per_second": a.prompt_tokens / p_last,
        "decode_tokens_per_second": a.new_tokens / d1,
        "batched_decode_tokens_per_second": a.new_tokens * a.batch / db,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }, sort_keys=True))

if __name__ == "__main__":
    sys.exit(main())
