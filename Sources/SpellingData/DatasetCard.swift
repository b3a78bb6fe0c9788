// The Hugging Face dataset card (README.md): YAML metadata that `datasets` and the Hub read
// (configs/data_files/splits, license, language, task categories, size), then prose on how the
// data was made, what is held out and why, and its limitations. Built from the manifest, so
// every number in it is the dataset's own.

import Records

enum DatasetCard {
    /// What the training split teaches (the experiment arm) and how many joins it spells.
    static func armSection(manifest: DatasetManifest, config c: DatasetConfig) -> [String] {
        let counts = manifest.counts
        var out: [String] = []
        switch c.arm ?? .spelling {
        case .spelling:
            guard c.arm != nil || c.joins != nil else { return [] }
            out = ["", "**Arm: spelling.** Training spells vocabulary tokens out letter by letter; it asks no count or position question."]
        case .control:
            out = ["", "**Arm: control.** The same words and prompts as the spelling arm, but each completion's spelling is replaced by the word",
                   "repeated \(counts["control_repeats"] ?? 0) times: the same format and about the same tokens, with no letter-level information.",
                   "It measures what fine-tuning on these prompts does without teaching spelling."]
        case .positive:
            out = ["", "**Arm: positive (trains on the target tasks).** The spelling arm plus \(counts["train_questions"] ?? 0) count and position",
                   "questions about vocabulary tokens (spell, then answer; or the bare answer). It is the reference ceiling, not a transfer result:",
                   "its model has been taught the evaluated tasks (on other words)."]
        }
        if let j = c.joins, let n = counts["train_joins"] {
            out += ["", "**Spelling across token boundaries.** \(n) training words are pseudo-words joining \(j.minTokens)–\(j.maxTokens) vocabulary tokens",
                    "(share \(j.share) of the spelling examples), \(c.wordMinLength)–\(c.wordMaxLength) letters like the evaluated words; none is a word of the",
                    "word list, a vocabulary token, or a validation or test word (checked at build time)."]
        }
        out.append("Validation and test words and questions are the same in every arm built with the same seed and word list.")
        return out
    }

    static func render(manifest: DatasetManifest, files: [String], config: DatasetConfig) -> String {
        let counts = manifest.counts
        let tok = manifest.tokenizer
        let words = manifest.words
        let source = tok.source.joined(separator: " + ")
        let total = files.reduce(0) { $0 + (counts[$1.replacingOccurrences(of: ".jsonl", with: "")] ?? 0) }
        let size = total < 1_000 ? "n<1K" : total < 10_000 ? "1K<n<10K" : total < 100_000 ? "10K<n<100K" : total < 1_000_000 ? "100K<n<1M" : "1M<n<10M"

        var y = ["---", "language:", "- en", "license: other", "license_name: mixed-sources",
                 "license_details: Word list from SCOWL (Debian wamerican); tokens from the named tokenizer's vocabulary. Check both licenses before redistribution.",
                 "pretty_name: Strawberry spelling and letter-level evaluation (\(source))",
                 "size_categories:", "- \(size)", "task_categories:", "- text-generation",
                 "tags:", "- spelling", "- character-level", "- letter-counting", "- tokenization", "- synthetic",
                 "annotations_creators:", "- machine-generated", "language_creators:", "- machine-generated",
                 "source_datasets:", "- original", "configs:",
                 "- config_name: default", "  data_files:",
                 "  - split: train", "    path: train.jsonl", "  - split: validation", "    path: validation.jsonl",
                 "  - split: test", "    path: test.jsonl",
                 "- config_name: heldout_vocab", "  data_files:", "  - split: test", "    path: heldout_vocab.jsonl"]
        for task in EvalTask.allCases {
            for style in PromptStyle.allCases {
                y += ["- config_name: \(task.rawValue)_\(style.rawValue)", "  data_files:",
                      "  - split: validation", "    path: eval/\(task.rawValue)_\(style.rawValue)_validation.jsonl",
                      "  - split: test", "    path: eval/\(task.rawValue)_\(style.rawValue)_test.jsonl"]
            }
        }
        y.append("---")

        func n(_ k: String) -> String { String(counts[k] ?? 0) }
        var p: [String] = [
            "", "# Strawberry spelling dataset", "",
            "Spelling-only training data built from the multi-letter tokens of a tokenizer's vocabulary, and held-out",
            "evaluation questions (letter counting, letter position, spelling) on dictionary words that were never a",
            "training target. Made by `strawberry data build`; every number below is read from `manifest.json`.", "",
            "| part | items | from |", "|---|---:|---|",
            "| train (spelling) | \(n("train")) | \(n("train_tokens")) vocabulary tokens × \(config.examplesPerToken) template families |",
            "| heldout_vocab (spelling) | \(n("heldout_vocab")) | \(n("heldout_vocab_tokens")) vocabulary tokens held out of training |",
            "| validation (spelling) | \(n("validation")) | \(n("validation_words")) dictionary words |",
            "| test (spelling) | \(n("test")) | \(n("test_words")) dictionary words |",
        ]
        for task in EvalTask.allCases {
            for style in PromptStyle.allCases {
                let k = "eval/\(task.rawValue)_\(style.rawValue)"
                p.append("| \(task.rawValue), \(style.rawValue) | \(n(k + "_validation")) + \(n(k + "_test")) | validation + test words |")
            }
        }
        p += armSection(manifest: manifest, config: config)
        p += [
            "", "## How it was made", "",
            "1. **Vocabulary tokens.** Every entry of `\(source)` (\(tok.vocabularySize) tokens, pre-tokenizer `\(tok.preTokenizer)`) is",
            "   decoded; a leading word-boundary marker is stripped; entries made only of letters of length",
            "   \(config.minTokenLength)–\(config.maxTokenLength)\(manifest.englishOnly ? ", ASCII a–z only," : "") are kept, case-folded and merged (each record keeps its source token ids):",
        ]
        for step in manifest.extraction { p.append("   - \(step.step): \(step.remaining)") }
        p += [
            "2. **Splits.** A stratified \(Int(config.heldoutVocabFraction * 100)) % of the tokens is held out of training (`heldout_vocab`).",
            "   Validation and test words come from `\(words.file)` (\(words.entries) entries): lower-case a–z words of",
            "   \(config.wordMinLength)–\(config.wordMaxLength) letters that are **not vocabulary tokens at all** (\(n("candidate_dictionary_words")) such words), sampled",
            "   stratified by length and number of repeated letters. The splits are disjoint (checked when building and loading).",
        ]
        if let d = manifest.decontamination {
            p.append("   Decontamination: \(d.removedFromTrain) training tokens that appear in `\(d.excludeFile)` (\(d.excludedWords) words) were removed.")
        }
        p += [
            "3. **Spelling examples.** \(config.templates.count) template families (\(config.templates.map(\.name).joined(separator: ", "))); prompt and completion",
            "   are separate fields so training can mask the prompt.",
            "4. **Evaluation questions.** For every validation/test word: a letter-count question (a letter it contains, or with",
            "   probability \(config.countAbsentFraction) one it does not, answer 0), a letter-position question (ordinal, or the last letter with",
            "   probability \(config.positionLastFraction)), and spelling. Each in two styles, `direct` (answer only) and `spell_first` (spell, then",
            "   answer), with the same letter and position in both. Gold answers are computed from the word. Metadata per item:",
            "   `word_length`, `word_tokens` (tokens the word takes in this tokenizer, quoted as in the prompt),",
            "   `token_length_at_position`, `position`, `repeated_letters`, `letter_present`.", "",
            "5. **lm-evaluation-harness tasks.** `lm_eval/` holds the direct-style count, position and spelling questions as",
            "   `lm_eval` tasks (multiple-choice log-likelihood over the counts 0–20 and the letters a–z; generation for spelling),",
            "   scored as `strawberry eval --scoring likelihood` scores them: from this directory,",
            "   `lm_eval --model hf --model_args pretrained=MODEL --include_path lm_eval --tasks strawberry --apply_chat_template`.", "",
            "## Why this is held out", "",
            "The question is whether a model fine-tuned to *spell* tokens transfers that skill to *counting* and *locating*",
            "letters. Evaluating on words that were never a spelling target — and never a single token — measures",
            "transfer rather than memorisation; the held-out vocabulary slice separates spelling generalisation on tokens",
            "from generalisation to multi-token words.", "",
            "## Limitations", "",
            "- English only; the word list is SCOWL's American list as packaged by Debian, not a frequency-weighted sample.",
            "- Test words are multi-token by construction, so they are longer and rarer than typical text.",
            "- Prompts come from a small set of templates; models may learn the templates as well as the skill.",
            "- Letter-count questions about absent letters have answer 0 by design; report them separately if needed.", "",
            "## Reproduce", "",
            "```sh",
            "strawberry data build --tokenizer \(source) --words \(words.file) --seed \(config.seed)\(config.arm.map { " --arm \($0.rawValue)" } ?? "")\(config.joins.map { " --joins \($0.share)" } ?? "") --out DIR",
            "```",
            "Same inputs and seed give byte-identical files; `manifest.json` holds the SHA-256 of every file, the tokenizer",
            "and the word list, and the full resolved config.", "",
        ]
        return (y + p).joined(separator: "\n")
    }
}
