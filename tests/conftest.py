import sys
from pathlib import Path

# Make `tests/naive.py` importable as `naive` and as `tests.naive`.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
