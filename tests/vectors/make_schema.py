"""Write tests/vectors/schema.json, the data model of crdt/schema.py as plain data, which
the TypeScript tests read (frontend/tests/schema.test.ts):

    python tests/vectors/make_schema.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from crdt.schema import describe  # noqa: E402

OUT = Path(__file__).with_name("schema.json")

if __name__ == "__main__":
    OUT.write_text(json.dumps(describe(), indent=2) + "\n")
    print(f"wrote {OUT}")
