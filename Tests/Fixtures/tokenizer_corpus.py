"""The fixed set of strings the tokenizer parity fixtures are made from (>= 300 strings).

Hand-picked hard cases (unicode, digits, whitespace runs, contractions, code, emoji) plus
seeded random mixtures of the same ingredients. Deterministic: no clock, fixed seed.
"""
import random

HAND = [
    "", " ", "  ", "\n", "\n\n", "\t", " \n ", "a", "A", "hello", " hello", "  hello", "hello world",
    "Hello, World!", "How many r's are in the word 'strawberry'?", "What is the 3rd letter in 'strawberry'?",
    "strawberry", "Strawberry", "STRAWBERRY", "s-t-r-a-w-b-e-r-r-y", "s t r a w b e r r y",
    "I'm", "you're", "they've", "we'll", "he'd", "it's", "IT'S", "I'M HERE", "don't", "y'all", "'s", "''", "'twas",
    "123", "1234567", "3.14159", "1,000,000", "-42", "+1 (555) 123-4567", "2024-11-22T05:00:00Z", "0x1F", "1e-5",
    "a1b2c3", "abc123def", "  123", "\t\t42\n", "12 34  56   78",
    "word  word   word    word", "trailing   ", "   leading", "mixed \t tabs\tand  spaces", "line1\nline2\r\nline3",
    "a\n\nb", "a \n b", "\n\n\n\nx", "x\n\n\n\n", "  \n\n  x",
    "naïve café résumé", "Straße", "ÅÄÖ åäö", "Ελληνικά", "Русский текст", "日本語のテキスト", "中文字符", "한국어",
    "עברית", "العربية", "हिन्दी", "ไทย", "emoji 🍓🍓🍓", "👍🏽", "👨‍👩‍👧‍👦 family", "🇫🇷 flag", "♥ ★ ☂", "e\u0301",
    "\u00a0non-breaking\u00a0space", "zero\u200bwidth", "full\u3000width", "½ ² ³ Ⅻ", "①②③", "٣٤٥", "१२३",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) { s += a[i]; }", "if x == 1 && y != 2:",
    "print(\"hello\")", "a_b_c = {'k': [1, 2, 3]}", "#include <stdio.h>", "SELECT * FROM t WHERE id=1;",
    "<html><body>Hi</body></html>", "https://example.com/path?q=1&r=2", "user@example.com", "C:\\Users\\x",
    "$100.00", "50%", "#hashtag", "@mention", "...", "!!!", "?!", "---", "***", "~~~", "==>", "<=>", "::", "->",
    "<|endoftext|>", "text<|endoftext|>more", "<|im_start|>user\nhi<|im_end|>", "<|im_start|>", "<think>\n\n</think>",
    "The quick brown fox jumps over the lazy dog.", "Pack my box with five dozen liquor jugs.",
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "antidisestablishmentarianism", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "                                        ",
    "ab" * 40, "The 1st, 2nd, 3rd, 4th, 11th, 12th, 13th and 21st letters.", "What's the last letter of 'queue'?",
    "Spell the word 'necessary'.", "n-e-c-e-s-s-a-r-y", "N E C E S S A R Y", "m\ni\ns\ns\ni\ns\ns\ni\np\np\ni",
]

PIECES = [
    "the", " the", "The", " and", "straw", "berry", "'s", "'re", " 12", "7", "0.5", "  ", "\n", "\t", "!", "?", ".", ",",
    "é", "ü", "日本", "🍓", "👍", "—", "…", "(", ")", "[", "]", "{", "}", "=", "+", "-", "_", "/", "\\", "\"", "'",
    "hello", "World", "CAPS", "mIxEd", "x1", "α", "β", "Ω", "ß", "ı", "İ", " \n", "\r\n", "   ", "42", "1000", "π",
]


def corpus(n_random=240, seed=1234):
    rng = random.Random(seed)
    out = list(HAND)
    for _ in range(n_random):
        k = rng.randint(1, 12)
        out.append("".join(rng.choice(PIECES) for _ in range(k)))
    return out
