"""Run the README's tour (its first two Python blocks) as a user of an installed wheel would.

Run from a folder outside the repository, with the wheel installed: ``python tour.py README.md``.
"""

import re
import sys
from pathlib import Path

import graphseq

text = Path(sys.argv[1]).read_text(encoding="utf-8")
tour = text[text.index("## A short tour"):]
tour = tour[:tour.index("\n## ", 1)]
blocks = re.findall(r"^```python\n(.*?)^```", tour, flags=re.S | re.M)
assert blocks, "the README's tour has no python block"
assert "site-packages" in graphseq.__file__, f"graphseq imported from {graphseq.__file__}"
namespace: dict = {}
for block in blocks:
    exec(compile(block, "README.md (tour)", "exec"), namespace)  # the README's own code
print(f"the README tour ran: {len(blocks)} blocks, graphseq from {graphseq.__file__}")
