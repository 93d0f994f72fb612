#!/usr/bin/env python3
"""check_docs.py — every repository path and every attnc option that the docs
name exists.

    check_docs.py SRCDIR ATTNC

Reads README.md and docs/*.md. Paths: words in code (fenced or indented code
blocks, `code spans`) or prose that start with a top-level folder of the repository
(compiler/, runtime/, tests/, ...), source files named without their folder in
a code span (`cg_entry.c`: some file of the repository has that name), and the
targets of relative Markdown links; an upper-case folder or file name (CASE/,
NAME.h, but not the docs' own API.md), a `*`, `[ch]` or `{a,b}` in a path
stands for any name, and a path git
ignores (a place a script creates) counts as existing. Options: every option of an attnc command line in code must be
one of that command's (`attnc help COMMAND`), and an option alone in a code
span (`--no-fuse`) of a paragraph that speaks of attnc one of some command's.
Prints FILE:LINE: and what is stale for each reference, and exits 1 if any.
"""
import fnmatch
import glob
import os
import re
import subprocess
import sys

TOP_FOLDERS = ("compiler", "runtime", "tests", "models", "examples", "bench", "docs", "python", "cmake", ".ci",
               "ops", "tools")
PATH_RE = re.compile(r"(?<![\w./~$-])((?:%s)/[\w.*{},/+\[\]-]*)" % "|".join(re.escape(f) for f in TOP_FOLDERS))
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
SPAN_RE = re.compile(r"(`+)(.+?)\1")
PLACEHOLDER_RE = re.compile(r"[A-Z][A-Z0-9_]+")
# a source file named without its folder in a code span: `cg_entry.c`, `jit*.c`
FILE_NAME_RE = re.compile(r"(?<![\w/.*-])([\w*]+\.(?:c|h|l|y|py|cmake|def|js))\b(?![/\w])")
OPTION_RE = re.compile(r"^(--?[A-Za-z][\w-]*)")
SKIP_DIRS = {".git", "build"}


def attnc_options(attnc):
    """{command: set of its options} from `attnc help` and `attnc help COMMAND`;
    key None holds attnc's own (--version, --help)."""
    top = subprocess.run([attnc, "help"], capture_output=True, text=True, check=True).stdout
    listed = top.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    options = {None: {"--version", "--help", "-h"}}
    for line in listed.splitlines():
        name = line.split()[0]
        if name == "help":
            continue
        text = subprocess.run([attnc, "help", name], capture_output=True, text=True, check=True).stdout
        opts = set()
        for short, long in re.findall(r"^  (-[^\s,]+)(?:, (-[^\s,]+))?", text.split("\nOptions:\n", 1)[1], re.M):
            opts.update(o for o in (short, long) if o)
        options[name] = opts
    return options


def git_ignored(root, path):
    """Whether git ignores path (a place the docs say a script creates, such
    as bench/node_modules); False outside a git checkout."""
    probe = subprocess.run(["git", "-C", root, "check-ignore", "-q", os.path.join(path, "_")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return probe.returncode == 0


def unplaceholder(segment):
    """A path segment with a placeholder as a glob: "TARGET" and "NAME.h"
    become "*" and "*.h"; the docs' own upper-case names ("API.md") stay."""
    m = PLACEHOLDER_RE.fullmatch(segment.split(".", 1)[0])
    if not m or segment.endswith(".md"):
        return segment
    return "*" + segment[m.end():]


def path_exists(root, path):
    """Whether path (relative to root) names something: as written, or with
    its placeholders (NAME, *, {a,b}, [ch]) standing for any name; "x.h/.c"
    names x.h and x.c."""
    path = path.rstrip(".,:;")
    if path.endswith("]") and "[" not in path:  # "[docs/AOT.md]": a link's text
        path = path[:-1]
    if os.path.exists(os.path.join(root, path)) or git_ignored(root, path):
        return True
    pair = re.fullmatch(r"(.*)(\.\w+)/(\.\w+)", path)
    if pair:
        return path_exists(root, pair.group(1) + pair.group(2)) and path_exists(root, pair.group(1) + pair.group(3))
    alternatives = [path]
    brace = re.search(r"\{([^{}]*)\}", path)
    if brace:
        alternatives = [path[:brace.start()] + alt + path[brace.end():] for alt in brace.group(1).split(",")]
    return all(glob.glob(os.path.join(root, *map(unplaceholder, alt.split("/")))) for alt in alternatives)


def files_by_name(root):
    """{base name: [repository paths]}, for hints where a file moved."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for f in files:
            found.setdefault(f, []).append(os.path.relpath(os.path.join(folder, f), root))
    return found


def code_and_links(text):
    """The code of a document and its prose lines: ([(line number, code text,
    paragraph)], [(line number, prose line)]). Code is each line of a code
    block (a command continued with a backslash joined into one), with
    paragraph None, and each code span of prose, with the text of the
    paragraph it stands in."""
    code, prose, spans = [], [], []
    lines = text.splitlines()
    fenced, in_block, pending, pending_no, paragraph = False, False, "", 0, []

    def end_paragraph():
        joined = " ".join(paragraph)
        code.extend((no, span, joined) for no, span in spans)
        paragraph.clear()
        spans.clear()

    for no, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            end_paragraph()
            continue
        # an indented block starts after a blank line and runs while indented
        in_block = line.startswith("    ") and (in_block or no == 1 or not lines[no - 2].strip())
        if fenced or in_block:
            pending_no = pending_no or no
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            code.append((pending_no, pending + line, None))
            pending, pending_no = "", 0
            continue
        if not line.strip():
            end_paragraph()
            continue
        paragraph.append(line)
        spans.extend((no, m.group(2)) for m in SPAN_RE.finditer(line))
        prose.append((no, line))
    end_paragraph()
    return code, prose


def attnc_commands(code):
    """The attnc command lines in a code text: (command word, [arguments])."""
    for m in re.finditer(r"(?:^|[\s;|&(`$])attnc((?:\s+[^\s|;&#)`]+)*)", code):
        args = m.group(1).split()
        yield (args[0] if args else None), args[1:]


def check_file(root, rel, options, moved, counts):
    """The stale references of document rel; counts["paths"] and
    counts["options"] grow by the references checked."""
    stale = []
    text = open(os.path.join(root, rel), encoding="utf-8").read()
    code, prose = code_and_links(text)
    all_options = set().union(*options.values())

    def path_problem(no, path):
        path = path.rstrip(".,:;")
        if path.endswith("]") and "[" not in path:
            path = path[:-1]
        counts["paths"] += 1
        if path_exists(root, path):
            return
        hint = moved.get(os.path.basename(path.rstrip("/")), [])
        stale.append(f"{rel}:{no}: no such path: {path}" + (f" (now {', '.join(sorted(hint))}?)" if hint else ""))

    for no, snippet, paragraph in code:
        for m in PATH_RE.finditer(snippet):
            path_problem(no, m.group(1))
        for word, args in attnc_commands(snippet):
            command = word if word in options else ("compile" if word and word.endswith(".attn") else None)
            known = options[command] | options[None] if command or word in ("help", None) else all_options
            if word and word.startswith("-"):
                args = [word] + args
            for arg in args:
                m = OPTION_RE.match(arg)
                counts["options"] += bool(m)
                if m and not (m.group(1) in known or arg[:2] in known and arg[1] != "-"
                              or arg in known):
                    stale.append(f"{rel}:{no}: attnc {command or ''} has no option {m.group(1)}".replace("  ", " "))
        for name in FILE_NAME_RE.findall(snippet) if paragraph is not None else ():
            counts["paths"] += 1
            pattern = unplaceholder(name)
            if not any(fnmatch.fnmatchcase(known, pattern) for known in moved):
                stale.append(f"{rel}:{no}: no file of the repository is named {name}")
        if paragraph is not None and snippet.startswith("--") and "attnc" in paragraph:
            counts["options"] += 1
            m = OPTION_RE.match(snippet)
            if m and m.group(1) not in all_options and "attnc" not in snippet:
                stale.append(f"{rel}:{no}: attnc has no option {m.group(1)}")
    for no, line in prose:
        # paths in plain prose too ("see docs/AOT.md"), spans and link targets aside
        for m in PATH_RE.finditer(LINK_RE.sub("]", SPAN_RE.sub(" ", line))):
            path_problem(no, m.group(1))
        for m in LINK_RE.finditer(line):
            target = m.group(1).split("#", 1)[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            counts["paths"] += 1
            path = os.path.normpath(os.path.join(os.path.dirname(rel), target))
            if not os.path.exists(os.path.join(root, path)):
                stale.append(f"{rel}:{no}: link to a missing file: {target}")
    return stale


def main():
    root, attnc = sys.argv[1], sys.argv[2]
    options = attnc_options(attnc)
    moved = files_by_name(root)
    docs = ["README.md"] + sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "docs", "*.md")))
    stale, counts = [], {"paths": 0, "options": 0}
    for rel in docs:
        stale += check_file(root, rel, options, moved, counts)
    for line in stale:
        print(line)
    print(f"{len(docs)} documents: {counts['paths']} paths and {counts['options']} attnc options checked, "
          f"{len(stale)} stale")
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
