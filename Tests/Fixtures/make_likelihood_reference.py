"""Reference log-likelihoods of candidate answers, for `eval --scoring likelihood` (LikelihoodTests).

Pinned: torch==2.13.0+cpu, transformers==5.24.0, tokenizers==0.23.3, gguf==0.19.0
Usage:  cd Tests/Fixtures && python make_likelihood_reference.py [ASSETS_DIR]

For the tiny models in models/<arch>/ and, with ASSETS_DIR holding it, the SmolLM2 GGUF (dequantised to
float32 by transformers), writes likelihood_reference.json: per model a few contexts (chat-rendered
questions, and one plain text) and, per candidate, the log-probability transformers gives it in the
answer slot. The split of context and candidate follows lm-evaluation-harness: the candidate's tokens
are encode(context + candidate) past the length of encode(context), scored conditioned on
encode(context); log-probabilities in float64 from the float32 logits, summed over the candidate's tokens.
Then appends the file's SHA-256 to MANIFEST.sha256.
"""
import hashlib, json, os, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

QUESTIONS = ["How many r's are in the word 'strawberry'? Answer with only the number.",
             "What is the 3rd letter in 'queue'? Answer with only the letter."]
# The tiny models hold 64 positions: short questions, and a short system prompt in place of SmolLM2's default one.
SHORT = ["How many r's in 'strawberry'?", "3rd letter in 'queue'?"]
CANDIDATES = [str(i) for i in range(13)] + ["a", "e", "q", "r", "u", "yes", "no"]


def logprobs(model, tok, context):
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    out = []
    for cand in CANDIDATES:
        whole = tok(context + cand, add_special_tokens=False)["input_ids"]
        cont = whole[len(ctx):]
        with torch.no_grad():
            logits = model(torch.tensor([ctx + cont])).logits[0].double()
        lsm = torch.log_softmax(logits, dim=-1)
        out.append(sum(lsm[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont)))
    return {"context": context, "context_ids": ctx, "candidates": CANDIDATES, "logprobs": out}


def cases(model, tok, questions, system=None):
    head = [{"role": "system", "content": system}] if system else []
    texts = [tok.apply_chat_template(head + [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True) for q in questions]
    texts.append("The third letter of queue is")
    return [logprobs(model, tok, t) for t in texts]


def main(assets):
    torch.set_num_threads(2)
    ref = {}
    for arch in ["gpt2", "llama", "qwen3"]:
        d = f"models/{arch}"
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(d)
        ref[arch] = cases(model, tok, SHORT, system="Be brief.")
    gguf = f"{assets}/SmolLM2-135M-Instruct.Q4_1.gguf"
    if os.path.exists(gguf):
        model = AutoModelForCausalLM.from_pretrained(assets, gguf_file=os.path.basename(gguf), dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(assets, gguf_file=os.path.basename(gguf))
        ref["smollm2"] = cases(model, tok, QUESTIONS)
    else:
        print("no SmolLM2 GGUF; its cases are left out")
    with open("likelihood_reference.json", "w") as f:
        json.dump(ref, f, sort_keys=True, indent=1)
    digest = hashlib.sha256(open("likelihood_reference.json", "rb").read()).hexdigest()
    lines = [l for l in open("MANIFEST.sha256").read().splitlines() if not l.endswith("  likelihood_reference.json")]
    lines.append(f"{digest}  likelihood_reference.json")
    with open("MANIFEST.sha256", "w") as f:
        f.write("\n".join(sorted(lines, key=lambda l: l.split("  ", 1)[1])) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../assets")
