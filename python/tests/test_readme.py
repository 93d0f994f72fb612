"""README.md's "Use it from Python" example runs as written."""

import os
import re

from conftest import REPO


def test_readme_python_example(monkeypatch):
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    code = "\n".join(line[4:] for line in re.search(r"\n((?:    .*\n)(?:    .*\n|\n)*)", section).group(1).splitlines())
    monkeypatch.chdir(REPO)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert list(scope["out"]) == ["output", "h_n"]
    assert scope["out"]["h_n"].shape == (4, 2, 7)
