#!/usr/bin/env python3
"""limits.py FILE... — the size limits of the code tree (docs/architecture.md): no file over 800 lines,
no function over 80. Prints one line per file or function past its limit, "FILE: N lines" or
"FILE:LINE: function NAME, N lines", and exits 1 when there is one.

A function is a brace block at file level (namespace and extern "C" blocks are looked through) whose
opening brace follows a closing parenthesis, as in `int f(void) {` or `__global__ void k(P p) const
{`; its length runs from the first line of its declaration to its closing brace. Comments, strings,
character constants and preprocessor lines (with their continuations) are left out first, so a brace
in any of them counts for nothing. Grammar files (.y, .l) are held to the file limit only: their
actions are brace blocks of another kind."""
import re
import sys

FILE_LIMIT = 800
FUNCTION_LIMIT = 80


def code_only(text):
    """text with comments, strings, character constants and preprocessor lines blanked (newlines
    kept, so line numbers stay)."""
    out, i, n = [], 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in ' \t':
            out.append(c); i += 1; continue
        if line_start and c == '#':                      # a directive, with its continuations
            while i < n and text[i] != '\n':
                if text[i] == '\\' and i + 1 < n and text[i + 1] == '\n':
                    out.append('\n'); i += 2; continue
                i += 1
            continue
        line_start = False
        if text.startswith('//', i):
            while i < n and text[i] != '\n':
                i += 1
            continue
        if text.startswith('/*', i):
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
            out.append('\n' * text.count('\n', i, end)); i = end; continue
        if c == '"' and i > 0 and text[i - 1] == 'R':      # a raw string: R"delim( ... )delim"
            open_paren = text.find('(', i)
            delim = text[i + 1:open_paren]
            close = text.find(')' + delim + '"', open_paren)
            end = n if open_paren < 0 or close < 0 else close + len(delim) + 2
            out.append('""' + '\n' * text.count('\n', i, end)); i = end; continue
        if c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            out.append(c + c); i = j + 1; continue
        if c == '\n':
            line_start = True
        out.append(c); i += 1
    return ''.join(out)


TRANSPARENT = re.compile(r'(\bnamespace\b[\w\s:]*|\bextern\s*""\s*)$')
FUNCTION = re.compile(r'\)\s*(const|noexcept|override|final|\s|->\s*[\w:<>,*&\s]+)*$')


def long_functions(text):
    """(line, name, length) of every function over FUNCTION_LIMIT lines."""
    code = code_only(text)
    found, stack = [], []        # stack: 'ns', 'fn' or 'block' per open brace
    head_at = 0                  # where the text before the next brace begins
    fn_start = fn_name = None
    for i, c in enumerate(code):
        if c in ';{}':
            head = code[head_at:i]
            if c == '{':
                inside_fn = any(k != 'ns' for k in stack)
                kind = 'block'
                if not inside_fn and TRANSPARENT.search(head.strip()):
                    kind = 'ns'
                elif not inside_fn and FUNCTION.search(head.strip()):
                    kind = 'fn'
                    lead = len(head) - len(head.lstrip())
                    fn_start = code.count('\n', 0, head_at + lead) + 1
                    name = re.search(r'([A-Za-z_][\w:~]*)\s*\(', head)
                    fn_name = name.group(1) if name else '?'
                stack.append(kind)
            elif c == '}' and stack:
                kind = stack.pop()
                if kind == 'fn':
                    length = code.count('\n', 0, i) + 1 - fn_start + 1
                    if length > FUNCTION_LIMIT:
                        found.append((fn_start, fn_name, length))
            head_at = i + 1
    return found


def main(paths):
    bad = 0
    for path in paths:
        with open(path, encoding='utf-8', errors='replace') as f:
            text = f.read()
        lines = text.count('\n') + (0 if text.endswith('\n') or not text else 1)
        if lines > FILE_LIMIT:
            print(f'{path}: {lines} lines (the limit: {FILE_LIMIT})'); bad += 1
        if path.endswith(('.y', '.l')):
            continue
        for line, name, length in long_functions(text):
            print(f'{path}:{line}: function {name}, {length} lines (the limit: {FUNCTION_LIMIT})'); bad += 1
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
