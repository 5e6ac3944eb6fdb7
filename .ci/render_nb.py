"""Execute a notebook without its `#| slow` cells and save the outputs into it (slow cells keep no output).
Usage: python .ci/render_nb.py nbs/X.ipynb  (e.g. to refresh 90_benchmarks from its CSVs without re-running the benchmarks)"""
import sys, copy, nbformat
from nbclient import NotebookClient
from pathlib import Path
p = Path(sys.argv[1])
nb = nbformat.read(p, as_version=4)
run = copy.deepcopy(nb)
for c in run.cells:
    if c.cell_type == 'code' and any(l.strip().startswith('#| slow') for l in c.source.splitlines()): c.source = 'pass  # slow cell skipped'
NotebookClient(run, timeout=600, resources={'metadata': {'path': str(p.parent)}}).execute()
for c, r in zip(nb.cells, run.cells):
    if c.cell_type == 'code' and r.source != 'pass  # slow cell skipped': c.outputs, c.execution_count = r.outputs, r.execution_count
nbformat.write(nb, p)
