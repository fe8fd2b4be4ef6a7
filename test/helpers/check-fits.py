"""Reads a FITS file with astropy and checks it against what a test expects.

Usage: check-fits.py <file.fits> <expected.json>
expected.json: {"pixels": "<raw little-endian samples file>", "bitpix": 16|32,
                "width": w, "height": h, "header": {"KEY": value, ...}}
Checks: DATASUM and CHECKSUM verify, every pixel equals the expected sample (BZERO applied),
every listed header value is exactly the expected one (HIERARCH names as written).
Prints "ok" and exits 0, or prints every difference and exits 1.
"""
import json
import sys
import warnings

import numpy as np
from astropy.io import fits


def main() -> int:
    path, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    problems = []
    warnings.simplefilter("error")
    with fits.open(path, checksum=True, do_not_scale_image_data=False) as hdul:
        hdu = hdul[0]
        header = hdu.header
        data = hdu.data
        dtype = "<u2" if expected["bitpix"] == 16 else "<u4"
        want = np.fromfile(expected["pixels"], dtype=dtype).reshape(expected["height"], expected["width"])
        if data is None or data.shape != want.shape:
            problems.append(f"shape {None if data is None else data.shape} != {want.shape}")
        else:
            got = data.astype(np.uint64)
            if not np.array_equal(got, want.astype(np.uint64)):
                bad = int(np.count_nonzero(got != want.astype(np.uint64)))
                problems.append(f"{bad} pixels differ")
        if header.get("BITPIX") != expected["bitpix"]:
            problems.append(f"BITPIX {header.get('BITPIX')} != {expected['bitpix']}")
        for key, value in expected.get("header", {}).items():
            if key not in header:
                problems.append(f"{key} missing")
                continue
            got = header[key]
            if isinstance(got, bool) or isinstance(value, bool):
                same = got is value or got == value and type(got) is type(value)
            elif isinstance(value, (int, float)) and isinstance(got, (int, float)):
                same = float(got) == float(value)
            else:
                same = got == value
            if not same:
                problems.append(f"{key}: {got!r} != {value!r}")
    for p in problems:
        print(p)
    if not problems:
        print("ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
