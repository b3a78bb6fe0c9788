"""transformers peer for the likelihood scoring of `strawberry eval --scoring likelihood`: the same
questions and candidates (read from the items.jsonl that Strawberry wrote), scored the way
lm-evaluation-harness scores multiple choice with a Hugging Face model: for each question, every
(context, candidate) pair is one row of a right-padded batch, one forward pass per question, and
log P(candidate | context) is the sum of the candidate tokens' log-softmax. A candidate's tokens are
encode(context + candidate) past encode(context)'s length, as in Strawberry. Float32 weights
(transformers dequantises the GGUF file), the same thread count. Prints one JSON object: timing,
and how often its prediction (the argmax) agrees with Strawberry's.

Needs: torch, transformers, gguf (pip).
"""
import argparse, json, os, resource, sys, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--items", required=True, help="items.jsonl of a Strawberry evaluation with likelihood scoring")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(a.threads)
    d, f = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    items = []
    for line in open(a.items):
        r = json.loads(line)
        lk = r.get("likelihood")
        if not lk:
            continue
        items.append((r["prompt"], lk["candidates"], lk["logprobs"]))
    if not items:
        print(json.dumps({"error": "no likelihood-scored items in " + a.items}))
        return 1

    agree, worst = 0, 0.0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for prompt, candidates, theirs in items:
            context = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            ctx = tok(context, add_special_tokens=False)["input_ids"]
            rows = []
            for c in candidates:
                whole = tok(context + c, add_special_tokens=False)["input_ids"]
                rows.append(whole[len(ctx):])
            T = len(ctx) + max(len(r) for r in rows)
            ids = torch.full((len(rows), T), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), T), dtype=torch.long)
            for i, r in enumerate(rows):
                seq = ctx + r
                ids[i, : len(seq)] = torch.tensor(seq)
                mask[i, : len(seq)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            ours = []
            for i, r in enumerate(rows):
                pos = torch.arange(len(ctx) - 1, len(ctx) - 1 + len(r))
                ours.append(float(logp[i, pos, torch.tensor(r)].sum()))
            if max(range(len(ours)), key=ours.__getitem__) == max(range(len(theirs)), key=theirs.__getitem__):
                agree += 1
            worst = max(worst, max(abs(x - y) for x, y in zip(ours, theirs)))
    dt = time.perf_counter() - t0
    print(json.dumps({"torch": torch.__version__, "questions": len(items), "seconds": dt, "questions_per_second": len(items) / dt,
                      "argmax_agreement": agree / len(items), "max_abs_logprob_difference": worst,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
