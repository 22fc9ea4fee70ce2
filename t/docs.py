#!/usr/bin/env python3
"""The documents against the code; `make check` runs it (`make docs` alone).

Fails, naming each gap, when
  - a key of conf/shoal.yaml (commented out or not) is not a tag of
    man/shoal.yaml.5 (a `.TP` entry whose first word is the key);
  - a route under /_/ that src/ registers with server_route() (its path a
    string, or a macro #defined as one in src/ or include/) is not named,
    as /_/PATH, in man/shoald.8 or man/shoal-cluster.7;
  - a series `shoal_...` that src/ writes (a histogram's _bucket, _sum and
    _count are its family's) is not named in either of those pages;
  - a link of README.md or doc/*.md, or a path in backquotes there that
    starts with a folder of the tree (src/, t/, man/...), names no file.

Run from anywhere; reads the tree it sits in. Python standard library only.
"""
import glob
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANUAL = ["man/shoald.8", "man/shoal-cluster.7"]
# Top-level entries of the tree a path in backquotes may start with.
TREE = ("src/", "include/", "t/", "man/", "doc/", "conf/", "systemd/",
        ".ci/", "Makefile", "README.md")
# Words that stand for a value in a path (t/fuzz/corpus/NAME/).
PLACEHOLDERS = re.compile(r"NAME|PID|DIGEST|YYYYMMDD|<")


def read(path):
    with open(os.path.join(TOP, path), encoding="utf-8") as f:
        return f.read()


def config_keys(text):
    """The keys of conf/shoal.yaml, as (section or None, key)."""
    keys = []
    section = None
    for line in text.splitlines():
        # "key:", "#key:" (commented out), "  #key:" (in a section) or
        # "#  - key:" (in a sequence); "# text: ..." is a comment.
        m = re.match(r"^(\s*)#?(\s*-\s+)?([a-z][a-z_]*):(\s|$)", line)
        if m is None:
            continue
        indent = len(m.group(1)) + (1 if m.group(2) else 0)
        key = m.group(3)
        if indent == 0:
            section = key
            keys.append((None, key))
        else:
            keys.append((section, key))
    return keys


def man_tags(text):
    """The first word of every .TP tag of a page."""
    tags = set()
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(".TP"):
            m = re.match(r"^\.(?:B|BR|BI|I|IR)\s+\"?([A-Za-z_][A-Za-z_.]*)",
                         lines[i + 1])
            if m:
                tags.add(m.group(1))
    return tags


def check_keys(errors):
    keys = config_keys(read("conf/shoal.yaml"))
    if len(keys) < 10:
        errors.append("conf/shoal.yaml: found only %d keys; is the parser "
                      "still right?" % len(keys))
    tags = man_tags(read("man/shoal.yaml.5"))
    for section, key in keys:
        if key not in tags:
            name = key if section is None else section + "." + key
            errors.append("man/shoal.yaml.5 does not describe the key %s "
                          "of conf/shoal.yaml" % name)


def sources():
    files = sorted(glob.glob(os.path.join(TOP, "src/*/*.[ch]")) +
                   glob.glob(os.path.join(TOP, "include/*/*.h")))
    return {os.path.relpath(f, TOP): read(os.path.relpath(f, TOP))
            for f in files}


def routes(src):
    """The /_/ paths registered with server_route(), as '/_/PATH'."""
    defines = {}
    for text in src.values():
        for m in re.finditer(r"#define\s+([A-Z_]+)\s+\"([^\"]*)\"", text):
            defines[m.group(1)] = m.group(2)
    found = set()
    for path, text in src.items():
        if path.endswith("server.c"):
            continue        # the definition of server_route itself
        for m in re.finditer(r"server_route\(\s*[a-z_>-]+\s*,\s*"
                             r"(\"[^\"]*\"|[A-Z_]+)\s*,", text):
            arg = m.group(1)
            if arg.startswith('"'):
                found.add("/_/" + arg.strip('"'))
            elif arg in defines:
                found.add("/_/" + defines[arg])
            else:
                found.add("?" + arg + " (" + path + ")")
    return found


def series(src):
    """The shoal_ series families that src/ writes."""
    names = set()
    for path, text in src.items():
        if path.startswith("src/"):
            # A name may follow a "\n" escape inside a C string.
            names.update(re.findall(r"(?:(?<![A-Za-z0-9_])|(?<=\\n))"
                                    r"(shoal_[a-z0-9_]*[a-z0-9])", text))
    # A histogram's _bucket, _sum and _count belong to its family, which
    # the code also names alone.
    return {re.sub(r"_(bucket|sum|count)$", "", n)
            if re.sub(r"_(bucket|sum|count)$", "", n) in names else n
            for n in names}


def named(text, word):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(word) +
                     r"(?![A-Za-z0-9_])", text) is not None


def check_manual(errors):
    src = sources()
    manual = "\n".join(read(p) for p in MANUAL)
    found = routes(src)
    if len(found) < 4:
        errors.append("src/: found only %d routes; is the parser still "
                      "right?" % len(found))
    for r in sorted(found):
        if r.startswith("?"):
            errors.append("src/: server_route() with %s, which is no "
                          "string macro" % r[1:])
        elif r not in manual:
            errors.append("no manual page names the endpoint %s" % r)
    found = series(src)
    if len(found) < 20:
        errors.append("src/: found only %d series; is the parser still "
                      "right?" % len(found))
    for s in sorted(found):
        if not named(manual, s):
            errors.append("no manual page names the series %s" % s)


def check_links(errors):
    docs = ["README.md"] + sorted(
        os.path.relpath(f, TOP) for f in glob.glob(os.path.join(TOP, "doc",
                                                                "*.md")))
    for doc in docs:
        text = read(doc)
        here = os.path.dirname(doc)
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", text):
            target = m.group(1).split("#")[0]
            if not target or re.match(r"[a-z]+:", target):
                continue
            if not os.path.exists(os.path.join(TOP, here, target)):
                errors.append("%s: the link %s names no file" %
                              (doc, m.group(1)))
        for m in re.finditer(r"`([^`\s]+)`", text):
            path = m.group(1).rstrip(".,:;")
            if not path.startswith(TREE) or PLACEHOLDERS.search(path):
                continue
            path = path.split(":")[0]
            if not glob.glob(os.path.join(TOP, path)):
                errors.append("%s: `%s` names no file of the tree" %
                              (doc, m.group(1)))


def main():
    errors = []
    check_keys(errors)
    check_manual(errors)
    check_links(errors)
    for e in errors:
        print("t/docs.py: " + e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print("t/docs.py: the documents name every key, endpoint, series and "
          "file")


if __name__ == "__main__":
    main()
