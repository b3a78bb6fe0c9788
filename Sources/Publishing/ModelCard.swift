// The model card: README.md with the Hub's YAML metadata (../shared/REFERENCE.md §3.5) and a body a
// reader can trust. Every number in it is read from the evaluation's files (evaluation_results.json,
// final_report.json) — the `model-index` results are the fine-tuned model's measured metrics, so the
// Hub's evaluation widget shows what was measured and nothing else.
import Foundation
import Records

/// What a card says, gathered from files (`Publication.gather`).
public struct CardFacts: Sendable {
    /// The card's model name (the repository id when known).
    public var name: String
    /// The base model's Hub id.
    public var baseModel: String
    public var license: String
    /// "peft" (the adapter is the repository's model) or "transformers" (a merged model is).
    public var library: String
    /// Hub dataset ids the card links to (the published dataset, when there is one).
    public var datasets: [String]
    public var results: EvaluationResults
    public var report: FinalReport?
    /// (name, value) rows of the training recipe, in the order shown.
    public var recipe: [(String, String)]
    /// (name, value) rows about the data.
    public var data: [(String, String)]
    /// Where the model is in its repository ("" for the root).
    public var pathInRepo: String
    /// OWNER/NAME when it is to be uploaded (for the usage snippets and links).
    public var repoId: String?
    /// The training run's page in an experiment tracker (Weights & Biases, when the run was streamed there).
    public var trackingURL: String? = nil
}

public enum ModelCard {
    /// The three tasks, as evaluation_results.json names them, and how a card names them.
    static let tasks = [("letter_count", "Letter counting", "Letter count accuracy"),
                        ("letter_position", "Letter position", "Letter position accuracy"),
                        ("spelling", "Spelling", "Exact spelling accuracy")]

    public static func text(_ f: CardFacts) -> String {
        frontMatter(f) + "\n" + body(f)
    }

    // MARK: metadata

    /// A YAML double-quoted scalar that any YAML reader takes as this exact string: everything outside
    /// YAML's printable set (C0, DEL, C1, surrogates, U+FFFE/FFFF) and the line separators is escaped.
    static func q(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                let v = u.value
                if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF || v == 0xFFFE || v == 0xFFFF {
                    out += String(format: "\\u%04X", v)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The shortest text that reads back as exactly this number, always with a '.' in the mantissa:
    /// YAML 1.1 readers (PyYAML, so huggingface_hub) take `5e-05` for a string, `5.0e-05` for a float.
    static func num(_ x: Double) -> String {
        var t = "\(x)"
        if !t.contains(".") {
            if let e = t.firstIndex(where: { $0 == "e" || $0 == "E" }) { t.insert(contentsOf: ".0", at: e) } else { t += ".0" }
        }
        return t
    }

    /// The fine-tuned model's measured metrics, per task: (type, name, value). Metrics the file does not
    /// have are not listed (and non-finite values never are).
    static func measured(_ m: HeadlineMetrics) -> [(task: String, taskName: String, metrics: [(type: String, name: String, value: Double)])] {
        var out: [(task: String, taskName: String, metrics: [(type: String, name: String, value: Double)])] = []
        for (key, taskName, metricName) in tasks {
            var ms: [(type: String, name: String, value: Double)] = []
            if let a = m.accuracy[key]?.accuracy { ms.append(("accuracy", metricName, a)) }
            if key == "spelling" {
                if let c = m.characterLevelAccuracy { ms.append(("accuracy", "Character-level accuracy", c)) }
                for (n, v) in [(1, m.bleu1), (2, m.bleu2), (3, m.bleu3), (4, m.bleu4)] { if let v { ms.append(("bleu", "BLEU-\(n) (characters)", v)) } }
                if let r = m.rougeLPrecision { ms.append(("rouge", "ROUGE-L precision (characters)", r)) }
            }
            ms = ms.filter { $0.value.isFinite }
            if !ms.isEmpty { out.append((key, taskName, ms)) }
        }
        return out
    }

    static func frontMatter(_ f: CardFacts) -> String {
        var y = "---\nlanguage:\n- en\nlicense: \(q(f.license))\nlibrary_name: \(q(f.library))\nbase_model: \(q(f.baseModel))\n"
        y += "pipeline_tag: text-generation\ntags:\n" + ["lora", "peft", "spelling", "character-level", "letter-counting", "strawberry"].map { "- \($0)\n" }.joined()
        if !f.datasets.isEmpty { y += "datasets:\n" + f.datasets.map { "- \(q($0))\n" }.joined() }
        y += "metrics:\n- accuracy\n- bleu\n- rouge\n"
        let results = measured(f.results.finetunedModel.metrics)
        if !results.isEmpty {
            y += "model-index:\n- name: \(q(f.name))\n  results:\n"
            let datasetType = f.datasets.first ?? "strawberry-spelling"
            for r in results {
                y += "  - task:\n      type: text-generation\n      name: \(q(r.taskName))\n"
                y += "    dataset:\n      type: \(q(datasetType))\n      name: \(q("Strawberry spelling — held-out dictionary words"))\n      split: test\n"
                y += "    metrics:\n"
                for m in r.metrics { y += "    - type: \(m.type)\n      value: \(num(m.value))\n      name: \(q(m.name))\n" }
            }
        }
        return y + "---\n"
    }

    // MARK: body

    static func pct(_ x: Double?) -> String { x.map { String(format: "%.1f %%", 100 * $0) } ?? "–" }
    static func ci(_ c: [Double]?) -> String { c.flatMap { $0.count == 2 ? String(format: " [%.1f, %.1f]", 100 * $0[0], 100 * $0[1]) : nil } ?? "" }

    static func body(_ f: CardFacts) -> String {
        let base = f.results.baseModel.metrics, ft = f.results.finetunedModel.metrics
        var s = "# \(f.name)\n\n"
        s += "A LoRA adapter for [\(f.baseModel)](https://huggingface.co/\(f.baseModel)) fine-tuned **on spelling only** — "
        s += "\"spell *word*\" → its letters — with Strawberry (a Swift toolkit), then evaluated on "
        s += "dictionary words it never trained on, for spelling and for two questions it was never trained on: how many times a letter "
        s += "occurs in a word, and which letter is at a position. The question is whether the spelling skill *transfers* to them.\n\n"
        if f.library == "transformers" {
            s += "This folder holds the adapter merged into the base model (a plain transformers model); the adapter itself is in `adapter/`.\n\n"
        }
        s += "## Results\n\nTest split, held-out dictionary words; accuracy with 95 % confidence intervals (n items in brackets). "
        s += "Baselines are trivial rules scored on the same questions.\n\n"
        s += "| task | base model | fine-tuned | change | p (Holm) | strongest trivial baseline |\n|---|---|---|---|---|---|\n"
        let crit = f.report?.successCriteria ?? [:]
        for (key, name, _) in tasks {
            let b = base.accuracy[key], t = ft.accuracy[key]
            guard b != nil || t != nil else { continue }
            let c = crit[key == "letter_count" ? "count" : key == "letter_position" ? "position" : "spelling"]
            let change = c.map { String(format: "%+.1f pts", 100 * $0.accuracyChange) + ci($0.accuracyChangeCI95) } ?? "–"
            let p = c.map { String(format: "%.3g", $0.mcnemarPHolm) } ?? "–"
            let baseline = f.results.baselines?[key]?.max { $0.value.accuracy < $1.value.accuracy }
            let bl = baseline.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \(pct($0.value.accuracy))" } ?? "–"
            s += "| \(name) | \(pct(b?.accuracy))\(ci(b?.ci95)) (\(b?.n ?? 0)) | \(pct(t?.accuracy))\(ci(t?.ci95)) (\(t?.n ?? 0)) | \(change) | \(p) | \(bl) |\n"
        }
        s += "\nSpelling similarity (characters): "
        s += "character accuracy \(pct(base.characterLevelAccuracy)) → \(pct(ft.characterLevelAccuracy)); "
        s += "BLEU-4 \(base.bleu4.map { String(format: "%.3f", $0) } ?? "–") → \(ft.bleu4.map { String(format: "%.3f", $0) } ?? "–"); "
        s += "ROUGE-L precision \(base.rougeLPrecision.map { String(format: "%.3f", $0) } ?? "–") → \(ft.rougeLPrecision.map { String(format: "%.3f", $0) } ?? "–"). "
        s += "Answers that could not be read: \(pct(base.unparseableRate)) → \(pct(ft.unparseableRate)).\n\n"
        if let r = f.report {
            s += "## Transfer analysis\n\n\(r.conclusion)\n\n"
            var rows: [String] = []
            for group in r.transfer.keys.sorted() {
                for task in ["count", "position"] {
                    guard let a = r.transfer[group]?.finetuned[task], let pb = a.pointBiserial, pb.isFinite else { continue }
                    let interval = a.pointBiserialCI95.flatMap { $0.count == 2 ? String(format: " [%.3f, %.3f]", $0[0], $0[1]) : nil } ?? ""
                    rows.append("| \(task) | \(group) | \(String(format: "%.3f", pb))\(interval) | \(a.words) |")
                }
            }
            if !rows.isEmpty {
                s += "Per word, does spelling a word well (character accuracy) go with answering its letter question correctly? Point-biserial correlation, fine-tuned model:\n\n"
                s += "| task | prompt style | correlation [95 % CI] | words |\n|---|---|---|---|\n" + rows.joined(separator: "\n") + "\n\n"
            }
        }
        if !f.recipe.isEmpty {
            s += "## Training recipe\n\n| | |\n|---|---|\n" + f.recipe.map { "| \($0.0) | \($0.1) |" }.joined(separator: "\n") + "\n\n"
            s += "The full resolved configuration is `training_config.yaml`; the loss per step is `training_metrics.jsonl`"
                + (f.trackingURL.map { ", and the run in Weights & Biases: <\($0)>.\n\n" } ?? ".\n\n")
        }
        if !f.data.isEmpty {
            s += "## Data\n\n| | |\n|---|---|\n" + f.data.map { "| \($0.0) | \($0.1) |" }.joined(separator: "\n") + "\n\n"
        }
        s += "## Limitations\n\n"
        s += "- Trained on spelling only, for one base model; the counting and position results measure transfer, not training on those tasks.\n"
        s += "- English dictionary words with one prompt wording per style; other wordings, languages or proper names are not measured.\n"
        s += "- Intervals are from the evaluated sample (n above); a small n means wide intervals.\n"
        s += "- Compare with the trivial baselines before relying on a task: a model below its strongest baseline has not learnt it.\n\n"
        s += "## How to use\n\n"
        let repo = f.repoId ?? "OWNER/NAME"
        let sub = f.pathInRepo.isEmpty ? "" : ", subfolder=\(q(f.pathInRepo))"
        s += "```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        if f.library == "peft" {
            s += "from peft import PeftModel\n\nbase = AutoModelForCausalLM.from_pretrained(\(q(f.baseModel)))\n"
            s += "model = PeftModel.from_pretrained(base, \(q(repo))\(sub))\ntokenizer = AutoTokenizer.from_pretrained(\(q(f.baseModel)))\n"
        } else {
            s += "\nmodel = AutoModelForCausalLM.from_pretrained(\(q(repo))\(sub))\ntokenizer = AutoTokenizer.from_pretrained(\(q(repo))\(sub))\n"
        }
        s += "messages = [{\"role\": \"user\", \"content\": \"Spell the word 'strawberry'.\"}]\n"
        s += "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\")\n"
        s += "print(tokenizer.decode(model.generate(inputs, max_new_tokens=32)[0][inputs.shape[1]:]))\n```\n\n"
        let hf = "hf://" + repo + (f.pathInRepo.isEmpty ? "" : "/" + f.pathInRepo)
        if f.library == "peft" {
            s += "With Strawberry (no Python): `strawberry generate --model BASE_MODEL --adapter \(hf) --prompt \"Spell the word 'strawberry'.\"`\n\n"
        } else {
            s += "With Strawberry (no Python): `strawberry generate --model \(hf) --prompt \"Spell the word 'strawberry'.\"`\n\n"
        }
        s += "## Files\n\n`evaluation_results.json` and `final_report.json` hold every number above; `charts/` the report's charts.\n\n"
        s += "## Citation\n\n```bibtex\n@software{strawberry,\n  title  = {Strawberry: spelling fine-tuning and letter-level transfer evaluation of language models},\n"
        s += "  note   = {Swift toolkit; model card generated from the evaluation files},\n  year   = {2026}\n}\n```\n"
        return s
    }
}
