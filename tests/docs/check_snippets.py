#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks that the code snippets of docs/*.md and README.md are the code that the tests
and examples compile and run.

In the markdown, a compiled snippet is a fenced code block preceded by an HTML comment
naming the GoogleTest case that runs it:

    <!-- test: hazards.lambda_captures_kept_alive -->
    ```cpp
    ...
    ```

In tests/docs/*.cpp, the same code lies between two marker lines:

    // snippet-begin: hazards.lambda_captures_kept_alive
    ...
    // snippet-end

The block and the marked code must be equal after whitespace normalisation (each line
stripped, runs of blanks collapsed, empty lines dropped), the test named must be defined
in tests/docs/, and every marked snippet must be shown somewhere in docs/.

Usage: check_snippets.py [PROJECT_ROOT]              check; exit status 1 on any problem
       check_snippets.py [PROJECT_ROOT] --show NAME  print one snippet
       check_snippets.py [PROJECT_ROOT] --fix        rewrite the marked blocks of docs/
                                                     from the tests, then check
Standard library only (runs with Debian's /usr/bin/python3).
"""

import difflib
import pathlib
import re
import sys
import textwrap

BEGIN = re.compile(r"^\s*//\s*snippet-begin:\s*(\S+)\s*$")
END = re.compile(r"^\s*//\s*snippet-end\s*$")
TEST_DEF = re.compile(
    r"\b(?:AIO_TEST_VIRTUAL_TIME|AIO_TEST_WITH|AIO_TEST|TEST_F|TEST)\(\s*(\w+)\s*,\s*(\w+)\s*[,)]")
DOC_MARK = re.compile(r"^\s*<!--\s*test:\s*(\S+)\s*-->\s*$")
FENCE = re.compile(r"^\s*(```+|~~~+)")


def normalise(text):
    lines = (re.sub(r"\s+", " ", line.strip()) for line in text.splitlines())
    return [line for line in lines if line]


def source_files(root):
    """The files that hold snippets: the doc tests, and the example programs (whose
    snippets are named example.* and are checked by compiling the examples)."""
    return sorted((root / "tests" / "docs").glob("*.[ch]pp")) + \
        sorted((root / "examples").rglob("*.[ch]pp"))


def markdown_files(root):
    return sorted((root / "docs").rglob("*.md")) + [root / "README.md"]


def read_snippets(files, errors):
    """{name: (file, line, text)} and the set of test names defined in the files."""
    snippets, tests = {}, set()
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        tests.update(f"{s}.{n}" for s, n in TEST_DEF.findall("\n".join(lines)))
        name, start = None, 0
        for i, line in enumerate(lines, 1):
            m = BEGIN.match(line)
            if m:
                if name:
                    errors.append(f"{path}:{i}: snippet '{m.group(1)}' begins inside '{name}'")
                name, start = m.group(1), i
            elif END.match(line):
                if not name:
                    errors.append(f"{path}:{i}: snippet-end without snippet-begin")
                    continue
                if name in snippets:
                    errors.append(f"{path}:{start}: snippet '{name}' defined twice "
                                  f"(also {snippets[name][0]}:{snippets[name][1]})")
                text = textwrap.dedent("\n".join(lines[start:i - 1]))
                snippets[name] = (path, start, text)
                name = None
        if name:
            errors.append(f"{path}:{start}: snippet '{name}' has no snippet-end")
    return snippets, tests


def read_doc_blocks(md_files, errors):
    """[(name, file, line, text)] for every marked code block of the markdown files."""
    blocks = []
    for path in md_files:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = DOC_MARK.match(lines[i])
            i += 1
            if not m:
                continue
            name, mark_line = m.group(1), i
            while i < len(lines) and not lines[i].strip():
                i += 1
            fence = FENCE.match(lines[i]) if i < len(lines) else None
            if not fence:
                errors.append(f"{path}:{mark_line}: '<!-- test: {name} -->' is not followed by "
                              "a fenced code block")
                continue
            marker, body = fence.group(1), []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                errors.append(f"{path}:{mark_line}: the code block of '{name}' is not closed")
            i += 1
            blocks.append((name, path, mark_line, "\n".join(body)))
    return blocks


def fix_docs(md_files, snippets):
    """Replaces the body of every marked code block whose snippet exists."""
    for path in md_files:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        out, i, changed = [], 0, False
        while i < len(lines):
            out.append(lines[i])
            m = DOC_MARK.match(lines[i])
            i += 1
            if not m or m.group(1) not in snippets:
                continue
            while i < len(lines) and not lines[i].strip():
                out.append(lines[i])
                i += 1
            fence = FENCE.match(lines[i]) if i < len(lines) else None
            if not fence:
                continue
            out.append(lines[i])
            indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
            i += 1
            old = []
            while i < len(lines) and not lines[i].strip().startswith(fence.group(1)):
                old.append(lines[i])
                i += 1
            new = [(indent + l).rstrip() + "\n" for l in snippets[m.group(1)][2].splitlines()]
            changed |= new != old
            out.extend(new)
        if changed:
            path.write_text("".join(out), encoding="utf-8")
            print(f"check_snippets: rewrote {path}")


def main(argv):
    args, show = list(argv[1:]), None
    fix = "--fix" in args
    args = [a for a in args if a != "--fix"]
    if "--show" in args:
        at = args.index("--show")
        show = args[at + 1] if at + 1 < len(args) else ""
        del args[at:at + 2]
    root = pathlib.Path(args[0]) if args else pathlib.Path(__file__).resolve().parents[2]
    errors = []
    snippets, tests = read_snippets(source_files(root), errors)

    if show is not None:
        name = show
        if name not in snippets:
            print(f"no snippet named '{name}'", file=sys.stderr)
            return 1
        print(snippets[name][2])
        return 0
    if fix:
        fix_docs(markdown_files(root), snippets)

    for name, (path, line, _) in sorted(snippets.items()):
        if name not in tests and not name.startswith("example."):
            errors.append(f"{path}:{line}: snippet '{name}' names no test defined in "
                          f"{root / 'tests' / 'docs'} (NAME must be suite.test)")

    blocks = read_doc_blocks(markdown_files(root), errors)
    shown = set()
    for name, path, line, text in blocks:
        shown.add(name)
        if name not in snippets:
            errors.append(f"{path}:{line}: no snippet '{name}' in tests/docs/*.cpp")
            continue
        src_path, src_line, src_text = snippets[name]
        want, got = normalise(src_text), normalise(text)
        if want != got:
            diff = "\n".join(difflib.unified_diff(want, got, f"{src_path}:{src_line}",
                                                  f"{path}:{line}", lineterm="", n=1))
            errors.append(f"{path}:{line}: snippet '{name}' differs from its test source "
                          f"(whitespace-normalised diff):\n{diff}")
    for name, (path, line, _) in sorted(snippets.items()):
        if name not in shown:
            errors.append(f"{path}:{line}: snippet '{name}' is shown in no markdown file")

    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check_snippets: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_snippets: {len(blocks)} marked blocks in docs/ match "
          f"{len(snippets)} snippets of tests/docs/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
