#!/usr/bin/python3
"""ckpt_bitflips.py PST CKPT [N] [--resume-cfg ARGS] — single-bit flips of a real checkpoint.

Flips one bit of a copy of CKPT at N positions (deterministic, spread over the whole file: bit
k*P mod (8*size) for a prime stride P) and runs `pst inspect` on each copy:
  detected  exit 1 with an error (the flip hit a checksummed chunk, object header, index or a
            content checksum)
  harmless  exit 0 and the same content digest as the undamaged file (free space, padding)
  SILENT    exit 0 but another content digest: a changed tensor passed every check — a failure
  crash     any other exit status or a timeout — a failure
Every 20th copy is also resumed with `pst train` when --resume-cfg is given (the config
arguments of the run that wrote CKPT): it must exit 0 or 1, never crash or hang.
Prints the counts; exit status 1 if any copy was silent or crashed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def inspect(pst, path):
    try:
        p = subprocess.run([pst, "inspect", path], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "timeout", None, ""
    m = re.search(r"content digest ([0-9a-f]{16})", p.stdout)
    return p.returncode, m.group(1) if m else None, p.stderr


def main():
    args = sys.argv[1:]
    resume_cfg = None
    if "--resume-cfg" in args:
        i = args.index("--resume-cfg")
        resume_cfg = args[i + 1].split()
        args = args[:i] + args[i + 2:]
    pst, ckpt = args[0], args[1]
    n = int(args[2]) if len(args) > 2 else 300
    rc, digest0, err = inspect(pst, ckpt)
    if rc != 0 or not digest0:
        print("FAIL: the undamaged checkpoint does not inspect (exit %s): %s" % (rc, err.strip()))
        return 1
    data = open(ckpt, "rb").read()
    bits = 8 * len(data)
    stride = 1000003  # prime: the positions k * stride mod bits cover the file evenly
    tmp = tempfile.mkdtemp()
    counts = {"detected": 0, "harmless": 0, "SILENT": 0, "crash": 0}
    bad = []
    try:
        for k in range(n):
            pos = (k * stride + 12345) % bits
            buf = bytearray(data)
            buf[pos // 8] ^= 1 << (pos % 8)
            copy = os.path.join(tmp, "ckpt-%08d.h5" % 0)
            with open(copy, "wb") as f:
                f.write(buf)
            rc, digest, err = inspect(pst, copy)
            if rc == 1 and ("error" in err or "FAILED" in err or "fail" in err):
                kind = "detected"
            elif rc == 0 and digest == digest0:
                kind = "harmless"
            elif rc == 0:
                kind = "SILENT"
            else:
                kind = "crash"
            counts[kind] += 1
            if kind in ("SILENT", "crash"):
                bad.append("byte %d bit %d: %s (exit %s) %s" % (pos // 8, pos % 8, kind, rc, err.strip()[-200:]))
            if resume_cfg and k % 20 == 0:
                run = os.path.join(tmp, "run")
                shutil.rmtree(run, ignore_errors=True)
                try:
                    p = subprocess.run([pst, "train"] + resume_cfg + ["train.run_dir=" + run, "--resume", copy, "-q"],
                                       capture_output=True, text=True, timeout=120)
                    rrc = p.returncode
                except subprocess.TimeoutExpired:
                    rrc = "timeout"
                if rrc not in (0, 1):
                    counts["crash"] += 1
                    bad.append("byte %d bit %d: resume exit %s" % (pos // 8, pos % 8, rrc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d single-bit flips of %s (%d bytes): %d detected, %d harmless (same content digest), "
          "%d silent, %d crashed or hung" % (n, os.path.basename(ckpt), len(data), counts["detected"],
                                             counts["harmless"], counts["SILENT"], counts["crash"]))
    for b in bad[:20]:
        print("  FAIL " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
