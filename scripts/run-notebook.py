"""Executes a notebook with nbclient (optional test: `make test` runs it when Jupyter is installed).

    python3 scripts/run-notebook.py notebooks/transfer_learning_analysis.ipynb
Exit status 0 when every cell ran; the failing cell's error otherwise. Nothing is written back.
"""
import sys

import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": "notebooks"}}).execute()
print(f"{path}: {len(nb.cells)} cells executed")
