#!/usr/bin/env python3
"""tools/make-sample.py: builds examples/data/fer2013_sample3.csv.gz, the small FER2013 sample the README demo
trains on, from the full ../shared/data/fer2013.csv.gz. Python 3 standard library only; deterministic (same input,
same bytes out).

The sample keeps the three largest classes (3 happiness, 4 sadness, 6 neutral) and the Usage column. Within each
Usage it takes the requested number of rows, split over the three emotions in proportion to their counts in that
Usage (largest remainder), and within each (Usage, emotion) stratum rows evenly spaced by file position. Rows keep
their file order. The 175 rows whose pixels were recovered from JPEGs (see ../shared/data/README.md) are never used.

usage: tools/make-sample.py [--input PATH] [--output PATH] [--train N] [--public N] [--private N]
"""

import argparse
import gzip
import io
import os
import sys

EMOTIONS = (3, 4, 6)  # happiness, sadness, neutral
NAMES = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise", 6: "neutral"}
USAGES = ("Training", "PublicTest", "PrivateTest")
HEADER = "emotion,pixels,Usage"

# 0-based data-row indices (header not counted) whose pixels are JPEG-decoded, from ../shared/data/README.md.
JPEG_ROWS = frozenset(int(x) for x in """
17 23 59 170 501 633 639 1303 1648 2059 2171 2658 2671 2809 3177 3185 3262 3336 3385 3403 3549 3931 4069 4275 4327
4521 5051 5082 5274 5439 5478 5509 5722 5881 5935 6102 6202 6369 6458 6478 6541 6646 6699 6708 7015 7172 7496 7527
7629 7965 8030 8567 8627 8737 8856 9026 9121 9256 9264 9474 9500 9673 9679 9693 9797 10023 10423 10713 10792 10930
11031 11244 11286 11295 11626 11846 12289 12352 12465 12840 13011 13148 13402 13697 13988 14148 14279 14702 15013
15144 15553 15668 15838 15894 15966 15975 16024 16180 16540 16622 16885 17081 17251 17620 17947 18012 18337 18492
18625 18912 19238 19422 19632 19638 19997 20222 20712 20817 21320 21792 21817 21937 22063 22198 22314 22407 22550
22638 22813 22927 23047 23320 23561 23596 23894 24053 24191 24441 24593 24891 24971 25168 25219 25603 25909 26383
26860 26897 28601 29447 29557 30002 30705 30981 31127 31734 31825 32032 32257 32299 32603 32662 32683 33195 33200
33422 33750 33928 34691 35121 35469 35632 35743 35825 35883
""".split())
assert len(JPEG_ROWS) == 175


def read_rows(path):
    """Returns the data lines of a FER2013 CSV (plain or .gz) as (emotion, usage, line) with CR/LF stripped."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="ascii", newline="") as f:
        header = f.readline().rstrip("\r\n")
        if header != HEADER:
            sys.exit(f"{path}:1: expected the header {HEADER!r}, got {header[:40]!r}")
        rows = []
        for number, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            fields = line.split(",")
            if len(fields) != 3:
                sys.exit(f"{path}:{number}: expected 3 fields, got {len(fields)}")
            rows.append((int(fields[0]), fields[2].strip(), line))
    return rows


def apportion(total, sizes):
    """Splits `total` over strata in proportion to `sizes` (largest remainder, ties to the earlier stratum)."""
    whole = sum(sizes)
    exact = [total * s / whole for s in sizes]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def evenly_spaced(items, k):
    """k items of the list, evenly spaced: positions floor((j + 0.5) * n / k)."""
    n = len(items)
    if k > n:
        sys.exit(f"asked for {k} rows from a stratum of {n}")
    return [items[(2 * j + 1) * n // (2 * k)] for j in range(k)]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=os.path.join(here, "..", "..", "shared", "data", "fer2013.csv.gz"))
    parser.add_argument("--output", default=os.path.join(here, "..", "examples", "data", "fer2013_sample3.csv.gz"))
    parser.add_argument("--train", type=int, default=1400, help="Training rows (default 1400)")
    parser.add_argument("--public", type=int, default=250, help="PublicTest rows (default 250)")
    parser.add_argument("--private", type=int, default=250, help="PrivateTest rows (default 250)")
    args = parser.parse_args()
    wanted = {"Training": args.train, "PublicTest": args.public, "PrivateTest": args.private}

    rows = read_rows(args.input)
    strata = {(u, e): [] for u in USAGES for e in EMOTIONS}
    for index, (emotion, usage, _) in enumerate(rows):
        if (usage, emotion) in strata and index not in JPEG_ROWS:
            strata[(usage, emotion)].append(index)

    chosen = []
    counts = {}
    for usage in USAGES:
        shares = apportion(wanted[usage], [len(strata[(usage, e)]) for e in EMOTIONS])
        for emotion, k in zip(EMOTIONS, shares):
            chosen += evenly_spaced(strata[(usage, emotion)], k)
            counts[(usage, emotion)] = k
    chosen.sort()

    text = io.StringIO()
    text.write(HEADER + "\n")
    for index in chosen:
        text.write(rows[index][2] + "\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(text.getvalue().encode("ascii"))

    print(f"wrote {os.path.normpath(args.output)}: {len(chosen)} rows, {os.path.getsize(args.output):,} bytes")
    print("usage        " + "".join(f"{NAMES[e]:>11}" for e in EMOTIONS) + "      total")
    for usage in USAGES:
        line = "".join(f"{counts[(usage, e)]:>11}" for e in EMOTIONS)
        print(f"{usage:<12} {line}{sum(counts[(usage, e)] for e in EMOTIONS):>11}")


if __name__ == "__main__":
    main()
