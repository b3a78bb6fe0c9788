"""llama.cpp's own numbers on the default GGUF, for the quantised-kernel parity test
(Tests/ModelsTests/QuantizedParityTests.swift). Written with llama-cpp-python==0.3.36, which runs
llama.cpp's CPU kernels: Q4_1 weights against Q8_1-quantised activations, Q8_0 against Q8_0.

Usage: cd Tests/Fixtures && python make_llamacpp_reference.py ../../assets/SmolLM2-135M-Instruct.Q4_1.gguf

For each committed prompt (plain text and SmolLM2 chat turns, the questions the project asks), the
token ids llama.cpp's tokenizer gives, then at the last position: the top-20 ids and logits and
every 64th logit (the tolerance is checked on those 768 + 20 values), and a 24-token greedy
continuation with llama.cpp's gap between its two best logits at every step (a step where that gap
is below the tolerance is a near-tie either engine may break either way).
"""
import json, sys
import numpy as np
import llama_cpp

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
def chat(q):
    return SYSTEM + "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n"

PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "How many r's are in the word 'strawberry'?",
    chat("How many r's are in the word 'strawberry'?"),
    chat("Spell the word 'clarets' letter by letter, separated by dashes. Answer with only the spelling."),
    chat("What is the 3rd letter of the word 'banana'? Answer with only the letter."),
    chat("How many times does the letter 'e' appear in 'excellence'? Answer with only the number."),
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "Paris is the capital of France. Berlin is the capital of",
]

def last_logits(llm):
    """The last evaluated position's logits, read from llama.cpp itself (the Python wrapper's
    `scores` array is only filled with logits_all=True)."""
    import numpy as np
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.array(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)), dtype=np.float64)

def main():
    path = sys.argv[1]
    # Keys and values cached in float32 with the plain attention path, as Strawberry keeps them: with
    # llama.cpp's default fp16 cache its own logits move by up to ~1.1 on these prompts.
    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=2, logits_all=False, verbose=False,
                          type_k=0, type_v=0, flash_attn=False)
    out = {"llama_cpp_python": llama_cpp.__version__, "model": path.split("/")[-1], "stride": 64, "kv_cache": "f32", "cases": []}
    for text in PROMPTS:
        ids = llm.tokenize(text.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        logits = last_logits(llm)
        top = np.argsort(-logits, kind="stable")[:20]
        greedy, gaps = [], []
        for _ in range(24):
            row = last_logits(llm)
            order = np.argsort(-row, kind="stable")[:2]
            greedy.append(int(order[0])); gaps.append(float(row[order[0]] - row[order[1]]))
            llm.eval([int(order[0])])
        out["cases"].append({
            "text": text, "ids": [int(i) for i in ids],
            "top20_ids": [int(i) for i in top], "top20_logits": [round(float(logits[i]), 5) for i in top],
            "strided_logits": [round(float(v), 5) for v in logits[::64]],
            "logit_std": round(float(logits.std()), 5),
            "greedy_ids": greedy, "greedy_top2_gaps": [round(g, 5) for g in gaps],
        })
    with open("llamacpp_reference.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")

if __name__ == "__main__":
    main()
