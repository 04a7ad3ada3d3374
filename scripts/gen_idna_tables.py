#!/usr/bin/env python3
"""gen_idna_tables.py - writes validator/idna_tables.inc, the Unicode tables of validator/idna.c.

Source: the Unicode Character Database as Debian packages it (package `unicode-data`, files under
/usr/share/unicode; Debian 12 ships Unicode 15.0.0). Nothing is downloaded.

What it derives:
  - the IDNA2008 derived property of every code point, by the algorithm of RFC 5892 section 3
    (categories A-K of section 2, the exceptions of section 2.6, BackwardCompatible empty), kept
    as ranges of PVALID, CONTEXTJ and CONTEXTO; everything between them is DISALLOWED or
    UNASSIGNED (both invalid in a label, so the table does not tell them apart);
  - Joining_Type (DerivedJoiningType.txt) for the ZERO WIDTH NON-JOINER rule (RFC 5892 A.1);
  - Script (Scripts.txt), only Greek, Hebrew, Hiragana, Katakana and Han (RFC 5892 A.4-A.7);
  - the viramas, Canonical_Combining_Class 9 (RFC 5892 A.1, A.2);
  - the combining marks, General_Category M (RFC 5891 section 4.2.3.2: no label begins with one);
  - Bidi_Class (DerivedBidiClass.txt) for the Bidi Rule of RFC 5893, only where it matters: ranges
    are merged across code points that are not PVALID/CONTEXT*, which never reach the rule.

Usage: scripts/gen_idna_tables.py [--ucd DIR] [--check]
  --check: exit 1 (and say so) when the committed file differs from what would be written.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "validator", "idna_tables.inc")
MAXCP = 0x10FFFF

PVALID, CONTEXTJ, CONTEXTO, DISALLOWED, UNASSIGNED = "PVALID", "CONTEXTJ", "CONTEXTO", "DISALLOWED", "UNASSIGNED"

# RFC 5892 section 2.6 (F: Exceptions).
EXCEPTIONS = {}
for cp in (0x00DF, 0x03C2, 0x06FD, 0x06FE, 0x0F0B, 0x3007):
    EXCEPTIONS[cp] = PVALID
for cp in [0x00B7, 0x0375, 0x05F3, 0x05F4, 0x30FB] + list(range(0x0660, 0x066A)) + list(range(0x06F0, 0x06FA)):
    EXCEPTIONS[cp] = CONTEXTO
for cp in [0x0640, 0x07FA, 0x302E, 0x302F, 0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x303B]:
    EXCEPTIONS[cp] = DISALLOWED

IGNORABLE_BLOCKS = ("Combining Diacritical Marks for Symbols", "Musical Symbols",
                    "Ancient Greek Musical Notation")
LETTER_DIGITS = {"Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc"}
SCRIPTS = ("Greek", "Hebrew", "Hiragana", "Katakana", "Han")
JOINING = ("D", "L", "R", "T", "C")  # U is the default
BIDI = ("L", "R", "AL", "EN", "ES", "ET", "AN", "CS", "NSM", "BN", "B", "S", "WS", "ON", "LRE",
        "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")


def ucd_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [x.strip() for x in line.split(";")]


def cp_range(field):
    if ".." in field:
        a, b = field.split("..")
        return int(a, 16), int(b, 16)
    return int(field, 16), int(field, 16)


def prop_set(path, name):
    s = set()
    for f in ucd_lines(path):
        if len(f) >= 2 and f[1] == name:
            a, b = cp_range(f[0])
            s.update(range(a, b + 1))
    return s


def prop_map(path, keep=None):
    m = {}
    for f in ucd_lines(path):
        a, b = cp_range(f[0])
        if keep is None or f[1] in keep:
            for cp in range(a, b + 1):
                m[cp] = f[1]
    return m


def general_categories(ucd):
    gc = {}
    first = None
    for f in ucd_lines(os.path.join(ucd, "UnicodeData.txt")):
        cp, name, cat = int(f[0], 16), f[1], f[2]
        if name.endswith(", First>"):
            first = cp
            continue
        if name.endswith(", Last>"):
            for c in range(first, cp + 1):
                gc[c] = cat
            continue
        gc[cp] = cat
    return gc


def derive(ucd):
    gc = general_categories(ucd)
    proplist = os.path.join(ucd, "PropList.txt")
    noncharacter = prop_set(proplist, "Noncharacter_Code_Point")
    ignorable = (prop_set(os.path.join(ucd, "DerivedCoreProperties.txt"), "Default_Ignorable_Code_Point")
                 | prop_set(proplist, "White_Space") | noncharacter)
    join_control = prop_set(proplist, "Join_Control")
    unstable = prop_set(os.path.join(ucd, "DerivedNormalizationProps.txt"),
                        "Changes_When_NFKC_Casefolded")
    hst = prop_map(os.path.join(ucd, "HangulSyllableType.txt"), {"L", "V", "T"})
    blocks = set()
    for f in ucd_lines(os.path.join(ucd, "Blocks.txt")):
        if f[1] in IGNORABLE_BLOCKS:
            a, b = cp_range(f[0])
            blocks.update(range(a, b + 1))
    ldh = set([0x2D]) | set(range(0x30, 0x3A)) | set(range(0x61, 0x7B))

    prop = [None] * (MAXCP + 1)
    for cp in range(MAXCP + 1):
        if cp in EXCEPTIONS:  # RFC 5892 section 3, in its order
            v = EXCEPTIONS[cp]
        elif cp not in gc and cp not in noncharacter:
            v = UNASSIGNED
        elif cp in ldh:
            v = PVALID
        elif cp in join_control:
            v = CONTEXTJ
        elif cp in unstable or cp in ignorable or cp in blocks or cp in hst:
            v = DISALLOWED
        elif gc.get(cp) in LETTER_DIGITS:
            v = PVALID
        else:
            v = DISALLOWED
        prop[cp] = v
    return prop


def ranges(values, dont_care=None):
    """[(lo, hi, v)] for runs of equal non-None v; code points where dont_care(cp) is true may be
    absorbed into a neighbouring run."""
    out = []
    for cp, v in enumerate(values):
        if dont_care is not None and dont_care(cp):
            continue
        if v is None:
            continue
        if out and out[-1][2] == v and all(
                dont_care is not None and dont_care(c) or values[c] == v
                for c in range(out[-1][1] + 1, cp)):
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def emit_ranges(lines, name, rs, enum_prefix):
    lines.append("static const idna_range %s[%d] = {" % (name, len(rs)))
    row = "   "
    for lo, hi, v in rs:
        item = " {0x%X, 0x%X, %s%s}," % (lo, hi, enum_prefix, v)
        if len(row) + len(item) > 99:
            lines.append(row)
            row = "   "
        row += item
    lines.append(row)
    lines.append("};")
    lines.append("")


def generate(ucd):
    prop = derive(ucd)
    valid = [v if v in (PVALID, CONTEXTJ, CONTEXTO) else None for v in prop]
    jt = [None] * (MAXCP + 1)
    for cp, v in prop_map(os.path.join(ucd, "extracted", "DerivedJoiningType.txt"), set(JOINING)).items():
        jt[cp] = v
    sc = [None] * (MAXCP + 1)
    for cp, v in prop_map(os.path.join(ucd, "Scripts.txt"), set(SCRIPTS)).items():
        sc[cp] = v.upper()
    vir = [None] * (MAXCP + 1)
    for cp, v in prop_map(os.path.join(ucd, "extracted", "DerivedCombiningClass.txt"), {"9"}).items():
        vir[cp] = "VIRAMA"
    mark = [None] * (MAXCP + 1)
    for cp, v in general_categories(ucd).items():
        if v in ("Mn", "Mc", "Me"):
            mark[cp] = "MARK"
    bidi = ["L"] * (MAXCP + 1)
    for cp, v in prop_map(os.path.join(ucd, "extracted", "DerivedBidiClass.txt")).items():
        bidi[cp] = v

    def unused(cp):
        return valid[cp] is None

    with open(os.path.join(ucd, "ReadMe.txt"), encoding="utf-8") as f:
        m = re.search(r"Version (\d+\.\d+\.\d+)", f.read())
    version = m.group(1) if m else "unknown"

    lines = [
        "/* idna_tables.inc - GENERATED by scripts/gen_idna_tables.py from the Unicode %s" % version,
        " * Character Database (Debian package unicode-data). Do not edit; rerun the script.",
        " * Included by idna.c only. Every table is sorted ranges [lo, hi] of one value; a code point",
        " * in no range has the default (DISALLOWED/UNASSIGNED, Joining_Type U, no script listed, not a",
        " * virama, not a mark, Bidi_Class L). */",
        "",
        "#define IDNA_UNICODE_VERSION \"%s\"" % version,
        "",
    ]
    emit_ranges(lines, "idna_prop_ranges", ranges(valid), "IDNA_")
    emit_ranges(lines, "idna_joining_ranges", ranges(jt, unused), "IDNA_JT_")
    emit_ranges(lines, "idna_script_ranges", ranges(sc, unused), "IDNA_SC_")
    emit_ranges(lines, "idna_virama_ranges", ranges(vir, unused), "IDNA_")
    emit_ranges(lines, "idna_mark_ranges", ranges(mark, unused), "IDNA_")
    emit_ranges(lines, "idna_bidi_ranges",
                [r for r in ranges(bidi, unused) if r[2] != "L"], "IDNA_BIDI_")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ucd", default="/usr/share/unicode")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.ucd, "UnicodeData.txt")):
        print("gen_idna_tables: no UCD at %s (apt-get install unicode-data)" % a.ucd, file=sys.stderr)
        return 77
    text = generate(a.ucd)
    if a.check:
        with open(a.out, encoding="utf-8") as f:
            if f.read() != text:
                print("gen_idna_tables: %s is stale; run scripts/gen_idna_tables.py" % a.out)
                return 1
        print("gen_idna_tables: %s is fresh" % a.out)
        return 0
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
