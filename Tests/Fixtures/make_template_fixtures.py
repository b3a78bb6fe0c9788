"""Chat-template fixtures: transformers' apply_chat_template(..., tokenize=False) outputs.

Usage: python Tests/Fixtures/make_template_fixtures.py ASSETS_DIR   (transformers==5.23.0, gguf==0.19.0)
Templates: SmolLM2-135M-Instruct's (read from its GGUF, also saved as templates/smollm2.jinja) and
Qwen3's (templates/qwen3.jinja). Rendered with add_generation_prompt=True and, for Qwen3,
enable_thinking unset / True / False; plus multi-turn conversations with thinking in history.
"""
import json, sys
from transformers import PreTrainedTokenizerFast
from tokenizers import Tokenizer, models

CONVERSATIONS = [
    [{"role": "user", "content": "How many r's are in the word 'strawberry'?"}],
    [{"role": "system", "content": "You count letters."}, {"role": "user", "content": "Spell 'necessary'."}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is the 3rd letter in 'queue'?"}],
    [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>\nthinking about q1\n</think>\n\nanswer 1"},
     {"role": "user", "content": "q2"}, {"role": "assistant", "content": "<think>\nmore\n</think>\n\nanswer 2"}],
    [{"role": "user", "content": "  spaces\n\nand newlines  "}],
    [{"role": "user", "content": "unicode: naïve 🍓 日本"}],
]

def render(template, messages, **kw):
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    tok.chat_template = template
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kw)

def main(assets):
    import gguf
    r = gguf.GGUFReader(f"{assets}/SmolLM2-135M-Instruct.Q4_1.gguf")
    f = r.fields["tokenizer.chat_template"]
    smol = bytes(f.parts[f.data[0]]).decode("utf-8")
    open("templates/smollm2.jinja", "w").write(smol)
    qwen = open("templates/qwen3.jinja").read()
    cases = []
    for i, conv in enumerate(CONVERSATIONS):
        cases.append({"template": "smollm2.jinja", "messages": conv, "enable_thinking": None, "expected": render(smol, conv)})
        for think in (None, True, False):
            kw = {} if think is None else {"enable_thinking": think}
            cases.append({"template": "qwen3.jinja", "messages": conv, "enable_thinking": think, "expected": render(qwen, conv, **kw)})
    with open("chat_template_cases.json", "w", encoding="utf-8") as out:
        json.dump({"cases": cases}, out, ensure_ascii=False, indent=1, sort_keys=True)
        out.write("\n")
    print(len(cases), "cases")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
