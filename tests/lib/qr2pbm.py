#!/usr/bin/python3
"""Turns a terminal QR code (as `cloudroute client add --qr` prints it: UTF-8
half blocks, light modules drawn) into a PBM image for zbarimg.

  qr2pbm.py < qr.txt > qr.pbm
"""
import re
import sys

SCALE = 4
CELLS = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0), " ": (1, 1)}  # 1 = dark


def main():
    text = re.sub(r"\x1b\[[0-9;]*m", "", sys.stdin.read())
    rows = []
    for line in text.splitlines():
        if not line:
            continue
        top, bottom = [], []
        for ch in line:
            t, b = CELLS[ch]
            top.append(t)
            bottom.append(b)
        rows += [top, bottom]
    width = max(len(r) for r in rows) + 8
    rows = [[0] * width] * 4 + [[0] * 4 + r + [0] * (width - 4 - len(r)) for r in rows] + \
        [[0] * width] * 4
    out = ["P1", "%d %d" % (width * SCALE, len(rows) * SCALE)]
    for r in rows:
        line = " ".join(str(v) for v in r for _ in range(SCALE))
        out += [line] * SCALE
    sys.stdout.write("\n".join(out) + "\n")


main()
