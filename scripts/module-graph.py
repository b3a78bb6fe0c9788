#!/usr/bin/env python3
"""The module graph from the real imports: every `import X` of Sources/MODULE/*.swift where X is a
module of this package. Writes docs/module-graph.md (a Mermaid graph and a table) and checks the
layering rules the architecture relies on. Usage: python3 scripts/module-graph.py [--check]
(--check: fail when the committed file differs from what the sources give)."""
import os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "Sources")
modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
swift = {m for m in modules if any(f.endswith(".swift") for _, _, fs in os.walk(os.path.join(src, m)) for f in fs)}
imports = {}
for m in sorted(swift):
    seen = set()
    for dirpath, _, files in os.walk(os.path.join(src, m)):
        for f in files:
            if f.endswith(".swift"):
                for line in open(os.path.join(dirpath, f), encoding="utf-8"):
                    g = re.match(r"^\s*(?:@testable\s+)?import\s+(\w+)", line)
                    if g and g.group(1) in modules and g.group(1) != m:
                        seen.add(g.group(1))
    imports[m] = sorted(seen)

# Depth: leaves 0, else 1 + the deepest import (the order the graph is read in).
depth = {}
def d(m):
    if m not in depth:
        depth[m] = 0 if not imports.get(m) else 1 + max(d(x) for x in imports[m])
    return depth[m]
order = sorted(modules, key=lambda m: (d(m), m))

lines = ["# Module graph", "",
         "Generated from the `import` lines of `Sources/` by `python3 scripts/module-graph.py`; a test",
         "(`ArchitectureTests`) regenerates it and fails when this file is stale. An arrow A → B: A imports B.",
         "", "```mermaid", "graph BT"]
for m in order:
    for x in imports.get(m, []):
        lines.append(f"  {m} --> {x}")
lines += ["```", "", "| module | level | imports |", "|---|---|---|"]
for m in order:
    lines.append(f"| `{m}` | {d(m)} | {', '.join(f'`{x}`' for x in imports.get(m, [])) or '—'} |")
text = "\n".join(lines) + "\n"

# Layering rules: the artifact, hashing, signal and HTTP leaves link nothing of the engine, and the
# release/publishing/serving side reads artifacts without the model formats.
engine = {"CBLAS", "CKernels", "TensorCore", "ModelFormats", "Tokenization", "Models", "Generation"}
problems = []
for leaf in ["Records", "Charts", "Hashing", "Signals", "HTTPTransport"]:
    if imports.get(leaf):
        problems.append(f"{leaf} imports {imports[leaf]} (it must be a leaf)")
for m in ["Hub", "Publishing", "Release"]:
    bad = sorted(set(imports.get(m, [])) & engine)
    if bad:
        problems.append(f"{m} imports engine modules {bad}")

out = os.path.join(root, "docs", "module-graph.md")
if "--check" in sys.argv:
    current = open(out, encoding="utf-8").read() if os.path.exists(out) else ""
    if current != text:
        problems.append("docs/module-graph.md is stale: run python3 scripts/module-graph.py")
else:
    open(out, "w", encoding="utf-8").write(text)
for p in problems:
    print("module graph:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
