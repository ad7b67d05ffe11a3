"""The user docs hold together: every relative link in README.md and docs/ reaches a file, and every
`#anchor` a heading of that file (GitHub's anchor rules); every source file and definition they name
exists; no internal tracker numbers in them."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)]*)\)")  # a target with a space or a line break in it is broken too
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """GitHub's id of a heading: lower case, punctuation other than - and _ dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()  # a link's text only
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        if match := re.match(r"#{1,6} (.*)", line):
            base = github_anchor(match.group(1))
            count = seen.get(base, 0)
            out.add(base if count == 0 else f"{base}-{count}")  # repeated headings get -1, -2, ...
            seen[base] = count + 1
    return out


def test_github_anchor_rules():
    assert github_anchor("2. FVD: one-stream, autoencoder + GMM (Table 1's)") == "2-fvd-one-stream-autoencoder--gmm-table-1s"
    assert github_anchor("8. `make demo`: what 3 minutes give") == "8-make-demo-what-3-minutes-give"


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(FENCE.sub("", doc.read_text())):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            if re.search(r"\s", target):
                broken.append(f"{doc.name}: {target!r} (white space in the target)")
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert broken == []


def test_no_tracker_numbers_in_user_docs():
    hits = [f"{doc.name}: {line.strip()}" for doc in DOCS for line in doc.read_text().splitlines()
            if re.search(r"issues? ?#?[0-9]+", line, re.I)]
    assert hits == []


CODE_FILE = re.compile(r"`((?:[\w.]+/)*\w+\.py)`(?::\s*`([\w.]+)`)?")  # `train/loss.py` or `train/loss.py`: `name`
CODE_ROOTS = [ROOT, ROOT / "src" / "videogan", ROOT / "tests", ROOT / "docs"]


def code_file(name: str) -> Path | None:
    """The file a doc means by `name`: a path from the repository, the package, tests/ or docs/; a bare file
    name anywhere in them."""
    for root in CODE_ROOTS:
        if (root / name).is_file():
            return root / name
    if "/" not in name:
        return next((p for p in ROOT.glob(f"*/**/{name}") if ".venv" not in p.parts), None)
    return None


def test_every_source_file_and_definition_the_docs_name_exists():
    """Code moves; a doc that sends the reader to `train/trainer.py`: `_loader` after it moved sends them
    nowhere."""
    missing = []
    for doc in DOCS:
        for name, definition in CODE_FILE.findall(doc.read_text()):
            path = code_file(name)
            if path is None:
                missing.append(f"{doc.name}: {name} (no such file)")
            elif definition and not re.search(rf"^\s*(async def|def|class) {definition.split('.')[-1]}\b|^{definition}\s*[:=]",
                                              path.read_text(), re.M):
                missing.append(f"{doc.name}: {name}: {definition} (not defined there)")
    assert missing == []
