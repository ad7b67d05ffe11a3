"""The user docs hold together: every relative link in README.md and docs/ reaches a file, and every
`#anchor` a heading of that file (GitHub's anchor rules); no internal tracker numbers in them."""
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
