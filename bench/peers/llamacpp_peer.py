"""llama.cpp peer for `strawberry bench generate` (through llama-cpp-python): the same GGUF file,
the same thread count, the same measurements where llama.cpp's Python API offers them — prefill of
the whole prompt (last logits only: llama.cpp does not keep every position's logits unless asked)
and batch-1 decode with greedy argmax. Prints one JSON object.

Needs: llama-cpp-python, numpy (pip). Used automatically by the bench when importable.
"""
import argparse, json, resource, sys, time

def last_logits(llm):
    """The last evaluated position's logits, read from llama.cpp itself (the Python wrapper's
    `scores` array is only filled with logits_all=True)."""
    import numpy as np
    import llama_cpp
    ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.array(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)), dtype=np.float64)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    if not a.model.endswith(".gguf"):
        print(json.dumps({"skipped": "llama.cpp reads GGUF files only"}))
        return 0
    import numpy as np
    import llama_cpp
    llm = llama_cpp.Llama(model_path=a.model, n_ctx=a.prompt_tokens + a.new_tokens + 32, n_batch=512, n_ubatch=512,
                          n_threads=a.threads, n_threads_batch=a.threads, logits_all=False, verbose=False)
    base = llm.tokenize(b"The quick brown fox jumps over the lazy dog while counting the letters of strawberry. " * 64, add_bos=False)
    prompt = [base[i % len(base)] for i in range(a.prompt_tokens)]

    def best(fn):
        return min(fn() for _ in range(max(a.repeats, 1)))

    def prefill():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        t = time.perf_counter()
        llm.eval(prompt)
        return time.perf_counter() - t

    def decode():
        llm.reset()
        llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
        llm.eval(prompt[:16])
        nxt = int(np.argmax(last_logits(llm)))
        t = time.perf_counter()
        for _ in range(a.new_tokens):
            llm.eval([nxt])
            nxt = int(np.argmax(last_logits(llm)))
        return time.perf_counter() - t

    p = best(prefill)
    d = best(decode)
    print(json.dumps({
        "llama_cpp_python": llama_cpp.__version__, "threads": a.threads,
        "prefill_last_logits_tokens_per_second": a.prompt_tokens / p,
        "decode_tokens_per_second": a.new_tokens / d,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }, sort_keys=True))

if __name__ == "__main__":
    sys.exit(main())
