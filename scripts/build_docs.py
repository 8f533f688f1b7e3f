"""Write the docs pages that are generated from code: python scripts/build_docs.py (a test checks them)."""
from pathlib import Path

from ganforge.options import options_page

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = {"training-options.md": options_page}

if __name__ == "__main__":
    for name, make in PAGES.items():
        (DOCS / name).write_text(make())
        print(f"wrote docs/{name}")
