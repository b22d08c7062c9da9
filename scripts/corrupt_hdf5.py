#!/usr/bin/env python3
"""Changes single bytes of an HDF5 file and runs `kiln inspect` on each copy, counting how kiln ends: a clean
error, success (the byte did not matter, or changed only a string or a weight), a crash (killed by a signal)
or a hang. Issue 21, item 5: libhdf5 must not be able to take kiln down.

    python scripts/corrupt_hdf5.py [--kiln .build/debug/kiln] [--file testdata/fixtures/act_relu_keras2_h5/model.h5]
        [--values 0x00,0xff,xor1,xor80] [--start 0] [--end SIZE] [--stride 1] [--jobs 2] [--keep DIR]

Every offset from START to END (by STRIDE) gets each of VALUES (a byte, or `xorN` to flip the bits of N);
copies that change nothing are skipped. With --keep, each copy that crashed or hung is written to DIR as
`OFFSET_VALUE.h5`. Prints the counts and the first crashing offsets; exits 1 if anything crashed or hung.
"""

import argparse
import concurrent.futures
import os
import signal
import subprocess
import tempfile


def parse_values(text):
    values = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("xor"):
            values.append(("xor", int(item[3:], 16)))
        else:
            values.append(("set", int(item, 16)))
    return values


def run_one(kiln, data, offset, value, workdir, timeout):
    kind, number = value
    changed = bytearray(data)
    changed[offset] = number if kind == "set" else changed[offset] ^ number
    if changed[offset] == data[offset]:
        return None
    path = os.path.join(workdir, f"{offset}_{kind}{number:02x}.h5")
    with open(path, "wb") as f:
        f.write(changed)
    try:
        result = subprocess.run([kiln, "inspect", path], capture_output=True, timeout=timeout)
        code = result.returncode
        if code < 0:
            outcome = "crash " + signal.Signals(-code).name
        elif code == 0:
            outcome = "success"
        else:
            outcome = "error"
        message = result.stderr.decode(errors="replace").strip().splitlines()[-1:] if code else []
    except subprocess.TimeoutExpired:
        outcome, message = "hang", []
    return offset, f"{kind}{number:02x}", outcome, changed if outcome.startswith(("crash", "hang")) else None, message


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kiln", default=".build/debug/kiln")
    parser.add_argument("--file", default="testdata/fixtures/act_relu_keras2_h5/model.h5")
    parser.add_argument("--values", default="0x00,0xff,xor01,xor80")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--keep")
    args = parser.parse_args()
    with open(args.file, "rb") as f:
        data = f.read()
    end = min(args.end if args.end is not None else len(data), len(data))
    values = parse_values(args.values)
    counts = {}
    bad = []
    with tempfile.TemporaryDirectory() as workdir, concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_one, os.path.abspath(args.kiln), data, offset, value, workdir, args.timeout)
                for offset in range(args.start, end, args.stride) for value in values]
        for job in jobs:
            result = job.result()
            if result is None:
                continue
            offset, value, outcome, changed, message = result
            counts[outcome] = counts.get(outcome, 0) + 1
            if changed is not None:
                bad.append((offset, value, outcome))
                if args.keep:
                    os.makedirs(args.keep, exist_ok=True)
                    with open(os.path.join(args.keep, f"{offset}_{value}.h5"), "wb") as f:
                        f.write(changed)
    total = sum(counts.values())
    print(f"{args.file}: {total} copies, bytes {args.start}..<{end} by {args.stride}, values {args.values}")
    for outcome in sorted(counts):
        print(f"  {outcome}: {counts[outcome]}")
    for offset, value, outcome in bad[:40]:
        print(f"  offset {offset} {value}: {outcome}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
