#!/usr/bin/env python3
"""Validate an ISF file with Volatility 3 itself.

usage: validate_isf.py ISF [TYPE.MEMBER ...]

1. validates the JSON against Volatility 3's own schema (volatility3.schemas);
2. loads it through Volatility 3's symbol-table loader
   (IntermediateSymbolTable) and resolves every user type;
3. for each TYPE.MEMBER argument prints `TYPE.MEMBER OFFSET` as Volatility 3
   sees it, so the caller can compare with the profile.
Exit 0 on success; 2 when volatility3 is not installed (the caller skips).
"""
import json
import lzma
import gzip
import os
import sys

try:
    import volatility3
    from volatility3 import schemas
    from volatility3.framework import contexts
    from volatility3.framework.symbols import intermed
except ImportError:
    print("volatility3 is not installed", file=sys.stderr)
    sys.exit(2)


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        data = lzma.decompress(data)
    elif path.endswith(".gz"):
        data = gzip.decompress(data)
    return json.loads(data)


def main():
    path = os.path.abspath(sys.argv[1])
    doc = load(path)
    if not schemas.validate(doc, use_cache=False):
        print("schema validation failed", file=sys.stderr)
        sys.exit(1)
    ctx = contexts.Context()
    table = intermed.IntermediateSymbolTable(ctx, "profc", "profc", isf_url="file://" + path)
    ctx.symbol_space.append(table)
    n = 0
    for name in doc["user_types"]:
        t = table.get_type(name)
        n += 1
        _ = t.vol.size
    for spec in sys.argv[2:]:
        tname, member = spec.split(".", 1)
        t = table.get_type(tname)
        off, _ = t.vol.members[member]
        print(f"{spec} {off}")
    print(f"isf: valid, {n} user types loaded, {len(doc['symbols'])} symbols")


if __name__ == "__main__":
    main()
