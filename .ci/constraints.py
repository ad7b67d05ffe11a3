"""Write constraints.txt: the exact versions of videogan[dev] and everything it pulls in, as installed in
the environment that runs this (CI's), so a user can reproduce a result with `pip install -c constraints.txt`.

Usage: python .ci/constraints.py > constraints.txt   (make constraints)
"""
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(name: str, extras: frozenset[str] = frozenset()) -> dict[str, str]:
    """{distribution name: version} of `name` with `extras` and all it requires, as installed."""
    found, todo = {}, [(name, extras)]
    while todo:
        current, current_extras = todo.pop()
        dist = distribution(current)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in current_extras | {""}):
                continue
            key = canonicalize_name(req.name)
            if key in found:
                continue
            try:
                found[key] = distribution(req.name).version.split("+")[0]  # no local label (+cpu, +cu124)
            except PackageNotFoundError:
                continue
            todo.append((req.name, frozenset(req.extras)))
    return found


if __name__ == "__main__":
    print("# Versions CI ran the tests with (written by .ci/constraints.py; see README, Installation)")
    for key, version in sorted(closure("videogan", frozenset({"dev"})).items()):
        print(f"{key}=={version}")
