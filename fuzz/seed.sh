#!/usr/bin/env bash
# Builds the seed corpora fuzz/corpus/<target>/ from the project's fixtures
# (tests/fixtures and, when present, the shared real fixtures in
# $PROFC_SHARED or ../shared). Large files are trimmed or skipped so every
# seed stays under ~256 KiB; fuzz/corpus is gitignored. Re-running is safe.
set -euo pipefail
cd "$(dirname "$0")"
root=..
shared="${PROFC_SHARED:-../../shared}"
fx="$shared/fixtures"
c=corpus
mkdir -p "$c"
for t in pdb dwarf btf system_map vol2_dwarfdump vol2_vtypes vol2_zip isf \
         profile_json cab pe repo_symlink runtime_session \
         image_formats vmcoreinfo paging kallsyms vmlinuz split_btf \
         package_ar package_tar package_cpio package_rpm package_deb; do
  mkdir -p "$c/$t"
done
MAX=262144
small() { [ "$(stat -c %s "$1")" -le "$MAX" ]; }

# PDB and PE
for f in "$root"/tests/fixtures/pdb/*.pdb; do cp "$f" "$c/pdb/"; done
for f in "$root"/tests/fixtures/pdb/*.dll; do cp "$f" "$c/pe/"; done
if [ -d "$fx/pdb" ]; then
  find "$fx/pdb" -type f -name '*.pdb' | while read -r f; do small "$f" && cp "$f" "$c/pdb/" || true; done
  find "$fx/pdb" -type f \( -name '*.dll' -o -name '*.exe' \) | while read -r f; do small "$f" && cp "$f" "$c/pe/" || true; done
fi

# ELF / Mach-O with DWARF; BTF
cp "$root"/tests/fixtures/elf/out/* "$c/dwarf/"
cp "$root"/tests/fixtures/btf/btf_types.btf "$root"/tests/fixtures/btf/btf_types.o "$c/btf/"
cp "$root"/tests/fixtures/elf/out/types.gcc.dwarf5.o "$c/btf/"

python3 - "$fx" "$c" <<'PY'
import gzip, io, json, os, struct, sys, zipfile
fx, c = sys.argv[1], sys.argv[2]

def put(target, name, data):
    with open(os.path.join(c, target, name), "wb") as f:
        f.write(data)

def head_lines(data, n):
    return b"\n".join(data.split(b"\n")[:n]) + b"\n"

# Shared zips: trimmed members as text seeds and as small zips.
dwarfdump = sysmap = ko = config = None
p = os.path.join(fx, "vol2", "Debian8.zip")
if os.path.exists(p):
    z = zipfile.ZipFile(p)
    dwarfdump = head_lines(z.read("module.dwarf"), 3000)
    sysmap = head_lines(z.read("boot/System.map-3.16.0-4-amd64"), 2000)
p = os.path.join(fx, "linux", "6.1.0-56-amd64.zip")
if os.path.exists(p):
    z = zipfile.ZipFile(p)
    for n in z.namelist():
        if n.endswith(".ko") and z.getinfo(n).file_size <= 600000:
            ko = z.read(n)
        elif "System.map" in n and sysmap is None:
            sysmap = head_lines(z.read(n), 2000)
        elif "config-" in n:
            config = head_lines(z.read(n), 400)
if ko:
    put("dwarf", "module_dwarf.ko", ko)
if sysmap is None:
    sysmap = (b"ffffffff81000000 T _text\nffffffff81000040 T startup_64\n"
              b"ffffffff82a1aa40 D init_task\n0000000000000000 A fixed_percpu_data\n"
              b"ffffffffc0000000 t foo\t[mod]\n")
put("system_map", "System.map", sysmap)
if dwarfdump is None:
    dwarfdump = (b"<0><0x0000000b><DW_TAG_compile_unit>\n"
                 b"<1><0x0000002d><DW_TAG_structure_type> DW_AT_name<task_struct> DW_AT_byte_size<0x00000010>\n"
                 b"<2><0x00000035><DW_TAG_member> DW_AT_name<pid> DW_AT_type<<0x00000050>> DW_AT_data_member_location<DW_OP_plus_uconst 0>\n"
                 b"<1><0x00000050><DW_TAG_base_type> DW_AT_name<int> DW_AT_byte_size<0x00000004> DW_AT_encoding<DW_ATE_signed>\n")
put("vol2_dwarfdump", "module.dwarf", dwarfdump)

vtypes_linux = b"""linux_types = {
  'task_struct' : [ 0x20, {
    'pid' : [ 0x0, ['int']],
    'comm' : [ 0x4, ['array', 16, ['char']]],
    'tasks' : [ 0x18, ['list_head']],
    'flags' : [ 0x14, ['BitField', dict(start_bit = 0, end_bit = 3, native_type = 'unsigned int')]],
}],
  'list_head' : [ 0x10, {
    'next' : [ 0x0, ['pointer', ['list_head']]],
    'prev' : [ 0x8, ['pointer', ['list_head']]],
}],
}
"""
vtypes_mac = b"""mac_types = {
 'proc' : [ 0x28, {
   'p_pid' : [ 0x10, ['int']],
   'p_comm' : [ 0x18, ['array', 17, ['char']]],
   'p_list' : [ 0x0, ['__unnamed_0x1']],
   'p_flag' : [0x14, ['Enumeration', {'target': 'int', 'choices': {0: 'A', 1: 'B'}}]],
 }],
 '__unnamed_0x1' : [ 0x10, {
   'le_next' : [ 0x0, ['pointer', ['proc']]],
   'le_prev' : [ 0x8, ['pointer', ['pointer', ['proc']]]],
 }],
}
"""
dsym = b"""----------------------------------------------------------------------
Symbol table for: '/mach_kernel' (x86_64)
----------------------------------------------------------------------
Index    n_type             n_sect n_desc n_value            n_strx     name
======== ================== ====== ====== ================== ========== =========
[     0] 0f (     SECT EXT) 01     0000   ffffff8000200000 '_kernproc'
[     1] 0f (     SECT EXT) 01     0000   ffffff8000201000 '_allproc'
"""
put("vol2_vtypes", "linux.vtypes", vtypes_linux)
put("vol2_vtypes", "mac.vtypes", vtypes_mac)
put("vol2_vtypes", "mac.dsymutil", dsym)

def mkzip(name, members):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members:
            z.writestr(n, d)
    put("vol2_zip", name, b.getvalue())
mkzip("debian.zip", [("module.dwarf", dwarfdump[:65536]), ("boot/System.map-3.16.0-4-amd64", sysmap[:16384])])
mkzip("linux_vtypes.zip", [("linux.vtypes", vtypes_linux), ("boot/System.map-4.0", sysmap[:4096])])
mkzip("mac.zip", [("10.9.vtypes", vtypes_mac), ("10.9.dsymutil", dsym)])
if ko:
    mkzip("rekall_linux.zip", [("module_dwarf.ko", ko), ("boot/System.map-6.1.0-56-amd64", sysmap[:8192]),
                               ("boot/config-6.1.0-56-amd64", config or b"CONFIG_X86_64=y\n")])

# Rekall profiles (plain and gzip), trimmed-size picks only.
small_profile = {
  "$METADATA": {"Type": "Profile", "ProfileClass": "Linux", "arch": "AMD64"},
  "$STRUCTS": {
    "list_head": [16, {"next": [0, ["Pointer", {"target": "list_head"}]],
                       "prev": [8, ["Pointer", {"target": "list_head"}]]}],
    "task_struct": [64, {
      "pid": [0, ["int", {}]],
      "flags": [4, ["BitField", {"start_bit": 1, "end_bit": 5, "target": "unsigned int"}]],
      "state": [8, ["Enumeration", {"enum_name": "state", "target": "long"}]],
      "tasks": [16, ["list_head", {}]],
      "comm": [32, ["String", {"length": 16}]],
      "name": [48, ["UnicodeString", {"length": 8}]],
      "vals": [56, ["Array", {"count": 2, "target": "unsigned short"}]],
      "parent": [60, ["pointer", ["task_struct"]]],
      "legacy": [0, ["array", 4, ["char"]]]}]},
  "$ENUMS": {"state": {"0": "RUNNING", "1": "SLEEPING"}},
  "$REVENUMS": {"state": {"RUNNING": 0, "SLEEPING": 1}},
  "$CONSTANTS": {"init_task": 0x10},
  "$FUNCTIONS": {"start": 0x20},
  "$CONFIG": {"CONFIG_X86_64": "y"},
}
sp = json.dumps(small_profile, sort_keys=True).encode()
put("profile_json", "small.json", sp)
put("profile_json", "small.json.gz", gzip.compress(sp, mtime=0))
rp = os.path.join(fx, "rekall", "parse_pdb")
if os.path.isdir(rp):
    for n in sorted(os.listdir(rp)):
        if os.path.getsize(os.path.join(rp, n)) <= 100000:
            d = open(os.path.join(rp, n), "rb").read()
            put("profile_json", n, d)
            put("profile_json", n + ".gz", gzip.compress(d, mtime=0))

# Runtime: PROFILE \0 MEMORY
mem = bytearray(256)
mem[0:4] = (1234).to_bytes(4, "little")
mem[16:24] = (16).to_bytes(8, "little")
mem[24:32] = (16).to_bytes(8, "little")
mem[32:40] = b"swapper\0"
put("runtime_session", "small", sp + b"\0" + bytes(mem))

# ISF
isf = {
  "metadata": {"format": "6.2.0", "producer": {"name": "profc", "version": "0.1.0"},
               "linux": {"symbols": []}},
  "base_types": {"int": {"kind": "int", "size": 4, "signed": True, "endian": "little"},
                 "pointer": {"kind": "int", "size": 8, "signed": False, "endian": "little"},
                 "char": {"kind": "char", "size": 1, "signed": True, "endian": "little"}},
  "user_types": {"task_struct": {"kind": "struct", "size": 40, "fields": {
      "pid": {"offset": 0, "type": {"kind": "base", "name": "int"}},
      "flags": {"offset": 4, "type": {"kind": "bitfield", "bit_position": 1, "bit_length": 3,
                "type": {"kind": "base", "name": "int"}}},
      "next": {"offset": 8, "type": {"kind": "pointer", "subtype": {"kind": "struct", "name": "task_struct"}}},
      "comm": {"offset": 16, "type": {"kind": "array", "count": 16, "subtype": {"kind": "base", "name": "char"}}},
      "st": {"offset": 32, "type": {"kind": "enum", "name": "state"}}}},
    "u": {"kind": "union", "size": 8, "fields": {"a": {"offset": 0, "type": {"kind": "base", "name": "int"}}}}},
  "enums": {"state": {"size": 4, "base": "int", "constants": {"RUNNING": 0, "SLEEPING": 1}}},
  "symbols": {"init_task": {"address": 0xffffffff82a1aa40, "type": {"kind": "struct", "name": "task_struct"}},
              "start": {"address": 4096}},
}
d = json.dumps(isf).encode()
put("isf", "small.json", d)
put("isf", "small.json.gz", gzip.compress(d, mtime=0))
try:
    import lzma
    put("isf", "small.json.xz", lzma.compress(d))
except ImportError:
    pass

# Repository: NAME\nCONTENT chunks separated by \n@@\n
def sym(t):
    return json.dumps({"$METADATA": {"Type": "Symlink", "Target": t}}).encode()
chunks = [b"nt/GUID/ABC1\n" + gzip.compress(sp, mtime=0), b"Latest\n" + sym("nt/GUID/ABC1"),
          b"Alias\n" + sym("Latest")]
put("repo_symlink", "chain", b"\n@@\n".join(chunks))
put("repo_symlink", "cycle", b"\n@@\n".join([b"a\n" + sym("b"), b"b\n" + sym("a")]))
put("repo_symlink", "escape", b"\n@@\n".join([b"a\n" + sym("../../etc/passwd"), b"c\n" + sym("missing")]))

# CAB: one uncompressed (type 0) folder holding one file.
def cab(name, payload):
    fname = name.encode() + b"\0"
    hdr_len, folder_len = 36, 8
    files_off = hdr_len + folder_len
    file_len = 16 + len(fname)
    data_off = files_off + file_len
    data = struct.pack("<IHH", 0, len(payload), len(payload)) + payload
    total = data_off + len(data)
    h = b"MSCF" + struct.pack("<IIIIIBBHHHHH", 0, total, 0, files_off, 0, 3, 1, 1, 1, 0, 0, 0)
    fo = struct.pack("<IHH", data_off, 1, 0)
    fe = struct.pack("<IIHHHH", len(payload), 0, 0, 0, 0, 0x20) + fname
    return h + fo + fe + data
put("cab", "one.cab", cab("ntkrnlmp.pdb", b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0" + bytes(64)))
PY

# Packages: a .deb (ar, control.tar.gz, data.tar.xz/.gz/plain) with the
# kernel layout, its data tar, a newc cpio and an RPM around it (gzip and
# xz payloads). Small stand-ins for the real files (the readers look at
# paths and sizes; the ELF parse of the vmlinux is fuzzed by `dwarf`).
python3 - "$c" "$c/dwarf/module_dwarf.ko" <<'PY'
import gzip, io, lzma, os, struct, sys, tarfile
c, ko_path = sys.argv[1], sys.argv[2]
ko = open(ko_path, "rb").read()[:4096] if os.path.exists(ko_path) else b"\x7fELF" + bytes(60)
def put(t, n, d):
    open(os.path.join(c, t, n), "wb").write(d)
files = [("./boot/config-6.1", b"CONFIG_X86_64=y\n"),
         ("./usr/lib/debug/boot/System.map-6.1", b"ffffffff81000000 T _text\n"),
         ("./usr/lib/debug/boot/vmlinux-6.1", ko),
         ("./usr/lib/debug/lib/modules/6.1/kernel/drivers/block/loop.ko", ko[:512]),
         ("./lib/modules/6.1/kernel/drivers/block/loop.ko.xz", lzma.compress(ko[:512])),
         ("./usr/share/doc/" + "long-directory-name/" * 8 + "copyright", b"x\n")]
def tar(members, fmt):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for n, d in members:
            i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
    return b.getvalue()
data_gnu = tar(files, tarfile.GNU_FORMAT)
put("package_tar", "gnu.tar", data_gnu)
put("package_tar", "pax.tar", tar(files, tarfile.PAX_FORMAT))
def ar(members):
    out = b"!<arch>\n"
    for n, d in members:
        out += b"%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (n.encode(), 0, 0, 0, b"100644", len(d)) + d
        if len(d) % 2: out += b"\n"
    return out
control = tar([("./control", b"Package: linux-image-6.1-dbg\nVersion: 1\nArchitecture: amd64\n")], tarfile.GNU_FORMAT)
for name, comp in [("data.tar.xz", lzma.compress(data_gnu)), ("data.tar.gz", gzip.compress(data_gnu, mtime=0)), ("data.tar", data_gnu)]:
    deb = ar([("debian-binary", b"2.0\n"), ("control.tar.gz", gzip.compress(control, mtime=0)), (name, comp)])
    put("package_deb", name + ".deb", deb)
    put("package_ar", name + ".deb", deb)
def newc(name, mode, data):
    n = name.encode() + b"\0"
    h = b"070701" + b"".join(b"%08x" % v for v in (1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(n), 0))
    out = h + n
    out += b"\0" * (-len(out) % 4) + data
    return out + b"\0" * (-len(out) % 4)
cpio = b"".join(newc(n, 0o100644, d) for n, d in files) + newc("TRAILER!!!", 0, b"")
put("package_cpio", "payload.cpio", cpio)
def header(entries):
    idx, store = b"", b""
    for tag, ty, data, count in entries:
        align = {3: 2, 4: 4, 5: 8}.get(ty, 1)
        store += b"\0" * (-len(store) % align)
        idx += struct.pack(">IIII", tag, ty, len(store), count)
        store += data
    return b"\x8e\xad\xe8\x01\0\0\0\0" + struct.pack(">II", len(entries), len(store)) + idx + store
def s(tag, v): return (tag, 6, v.encode() + b"\0", 1)
def sa(tag, vs): return (tag, 8, b"".join(v.encode() + b"\0" for v in vs), len(vs))
def i32(tag, vs): return (tag, 4, b"".join(struct.pack(">I", v) for v in vs), len(vs))
def i16(tag, vs): return (tag, 3, b"".join(struct.pack(">H", v) for v in vs), len(vs))
dirs = sorted({os.path.dirname(n[1:]) + "/" for n, _ in files})
for comp, payload in [("gzip", gzip.compress(cpio, mtime=0)), ("xz", lzma.compress(cpio))]:
    lead = b"\xed\xab\xee\xdb\x03\x00\x00\x00\x00\x01" + b"kernel-debuginfo".ljust(66, b"\0") + b"\x00\x01\x00\x05" + bytes(16)
    sig = header([i32(1000, [len(cpio)])])
    sig += b"\0" * (-len(sig) % 8)
    h = header([s(1000, "kernel-debuginfo"), s(1001, "6.1"), s(1002, "1"), s(1022, "x86_64"),
                i32(1028, [len(d) for _, d in files]), i16(1030, [0o100644] * len(files)),
                i32(1116, [dirs.index(os.path.dirname(n[1:]) + "/") for n, _ in files]),
                sa(1117, [os.path.basename(n) for n, _ in files]), sa(1118, dirs),
                s(1124, "cpio"), s(1125, comp)])
    put("package_rpm", comp + ".rpm", lead + sig + h + payload)
PY

# PE and RSDS text bits
printf 'RSDS\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x01\x00\x00\x00C:\\ntkrnlmp.pdb\0' > "$c/pe/rsds"

# Memory images, VMCOREINFO, page tables (small synthetic seeds).
python3 - "$c" <<'PY'
import os, struct, sys, zlib
c = sys.argv[1]
def put(t, n, d):
    with open(os.path.join(c, t, n), "wb") as f:
        f.write(d)
vmci = (b"OSRELEASE=6.1.0-57-amd64\nBUILD-ID=6a2b4ac77585b8cf102cba771300e573c8489b69\nPAGESIZE=4096\n"
        b"SYMBOL(init_top_pgt)=ffffffff85c10000\nNUMBER(phys_base)=285212672\nNUMBER(pgtable_l5_enabled)=0\n"
        b"KERNELOFFSET=3200000\nNUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(kimage_voffset)=0xffffdfd7ed200000\n")
put("vmcoreinfo", "amd64", vmci)
def note(name, typ, desc):
    n = name + b"\0"
    b = struct.pack("<III", len(n), len(desc), typ) + n
    b += b"\0" * (-len(b) % 4) + desc + b"\0" * (-len(desc) % 4)
    return b
qemu = struct.pack("<II", 1, 440) + bytes(384) + struct.pack("<QQQQQQ", 0x80050033, 0, 0, 0x1000, 0x750ef0, 0)
notes = note(b"CORE", 1, bytes(336)) + note(b"QEMU", 0, qemu) + note(b"VMCOREINFO", 0, vmci)
mem = bytearray(0x4000)
mem[0x1ff8:0x2000] = struct.pack("<Q", 0x2003)           # a table entry, both formats
mem[0x3000:0x3000 + 44] = b"Linux version 6.1.0 (x) #1 SMP PREEMPT_DYNAMIC"
noff = 64 + 2 * 56
loff = (noff + len(notes) + 15) & ~15
eh = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 2, 0, 0, 0)
ph = struct.pack("<IIQQQQQQ", 4, 0, noff, 0, 0, len(notes), len(notes), 0)
ph += struct.pack("<IIQQQQQQ", 1, 7, loff, 0, 0, len(mem), len(mem), 0)
put("image_formats", "core.elf", eh + ph + notes + bytes(loff - noff - len(notes)) + bytes(mem))
lime = b""
for start, chunk in ((0, mem[:0x2000]), (0x10000, mem[0x2000:])):
    lime += struct.pack("<IIQQQ", 0x4C694D45, 1, start, start + len(chunk) - 1, 0) + bytes(chunk)
put("image_formats", "lime", lime)
# kdump-compressed: block 4096, 4 pages, pages 1 (zlib) and 3 (stored).
bs = 4096
hdr = bytearray(bs)
hdr[0:8] = b"KDUMP   "
struct.pack_into("<I", hdr, 8, 6)
hdr[142:142 + 5] = b"6.1.0"; hdr[272:272 + 6] = b"x86_64"
struct.pack_into("<iiIII", hdr, 428, bs, 1, 2, 4, 0)
sub = bytearray(bs)
struct.pack_into("<Qii", sub, 0, 0x11000000, 31, 0)
vmoff = bs + 200
sub[200:200 + len(vmci)] = vmci
struct.pack_into("<QQ", sub, 32, vmoff, len(vmci))
struct.pack_into("<QQQ", sub, 96 - 16, 0, 4)   # start/end pfn 64
struct.pack_into("<Q", sub, 96, 4)             # max_mapnr_64
bm = bytearray(2 * bs)
bm[0] = 0b1111; bm[bs] = 0b1010
descs_off = 4 * bs
p1 = zlib.compress(bytes(mem[:bs]))
p3 = bytes(mem[3 * bs:4 * bs])
d1 = descs_off + 2 * 24
d3 = d1 + len(p1)
descs = struct.pack("<QIIQ", d1, len(p1), 1, 0) + struct.pack("<QIIQ", d3, len(p3), 0, 0)
put("image_formats", "kdump", bytes(hdr + sub + bm) + descs + p1 + p3)
put("paging", "amd64", struct.pack("<Q", 0x1000) + bytes(mem))
put("paging", "loop", struct.pack("<Q", 0x1000) + bytes(0x1000) + struct.pack("<Q", 0x1003) * 512)
PY

for t in "$c"/*/; do
  printf '%-18s %3d files\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done

# Kernel-only inputs (kallsyms tables, vmlinuz streams, split BTF), built here.
python3 - "$c" "$root/tests/fixtures/btf/btf_types.btf" <<'PY'
import bz2, gzip, lzma, os, shutil, struct, subprocess, sys, tempfile
c, base_btf = sys.argv[1], sys.argv[2]

def put(target, name, data):
    with open(os.path.join(c, target, name), "wb") as f:
        f.write(data)

def pad8(b):
    while len(b) % 8:
        b.append(0)

def tables(n, base=0xffffffff81000000, seqs=True):
    """kallsyms tables in the 6.1 order (offsets, base, num_syms, names,
    markers, seqs, token table, token index), one-character tokens."""
    names = [("T", "_text")] + [("T" if i % 2 else "d", "sym_%d" % i) for i in range(1, n)]
    d = bytearray(b"\xaa" * 64)
    for i in range(n):
        d += struct.pack("<I", i * 16)
    pad8(d)
    d += struct.pack("<Q", base) + struct.pack("<I", n)
    pad8(d)
    start, markers = len(d), []
    for i, (k, nm) in enumerate(names):
        if i % 256 == 0:
            markers.append(len(d) - start)
        d.append(len(nm) + 1)
        d += (k + nm).encode()
    pad8(d)
    for m in markers:
        d += struct.pack("<I", m)
    pad8(d)
    if seqs:
        d += bytes(3 * n)
        pad8(d)
    table, index = len(d), []
    for i in range(256):
        index.append(len(d) - table)
        d += bytes([i or 1, 0])
    pad8(d)
    for i in index:
        d += struct.pack("<H", i)
    d += b"Linux version 6.1.0-fuzz (x@y) #1 SMP\n\0" + b"KERNELOFFSET=3200000\n\0"
    return bytes(d)

put("kallsyms", "tables_61.bin", tables(300))
put("kallsyms", "tables_no_seqs.bin", tables(700, seqs=False))
put("kallsyms", "proc_kallsyms.txt",
    b"0000000000000000 A fixed_percpu_data\nffffffff95200000 T _text\n"
    b"ffffffff95200000 T startup_64\nffffffff96c1aa40 D init_task\nffffffffc0a00000 t loop_init\t[loop]\n")

elf = b"\x7fELF\x02\x01\x01" + bytes(9) + bytes(range(256)) * 64
sized = lambda b: b + struct.pack("<I", len(elf))
streams = {
    "gz": gzip.compress(elf, mtime=0),
    "bz2": bz2.compress(elf),
    "lzma": lzma.compress(elf, format=lzma.FORMAT_ALONE),
    "xz": lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                        filters=[{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 1}]),
}
with tempfile.TemporaryDirectory() as t:
    src = os.path.join(t, "vmlinux.bin")
    open(src, "wb").write(elf)
    for tool, args, name in (("lzop", ["-1", "-c"], "lzo"), ("lz4", ["-l", "-1", "-c"], "lz4"),
                             ("zstd", ["-1", "-c", "-q"], "zst")):
        if shutil.which(tool):
            streams[name] = subprocess.run([tool] + args + [src], check=True, capture_output=True).stdout
for name, data in streams.items():
    put("vmlinuz", "stream." + name, sized(data))
    # A minimal bzImage: setup_sects 1, HdrS v2.15, payload after 1 KiB.
    hdr = bytearray(1024)
    hdr[0x1f1] = 1
    hdr[0x202:0x206] = b"HdrS"
    hdr[0x206:0x208] = struct.pack("<H", 0x20f)
    hdr[0x248:0x24c] = struct.pack("<I", 0)
    hdr[0x24c:0x250] = struct.pack("<I", len(sized(data)))
    put("vmlinuz", "bzimage." + name, bytes(hdr) + sized(data))
put("vmlinuz", "arm64_image", bytes(0x38) + b"ARM\x64" + bytes(64))

# Split BTF: the fixture as base; a module with one struct whose member is
# base type 1, named from the module's own strings (offsets continue).
b = open(base_btf, "rb").read()
_, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII", b)
strings = b"\0mod_struct\0field\0"
types = struct.pack("<III", str_len + 1, (4 << 24) | 1, 8) + struct.pack("<III", str_len + 12, 1, 0)
mod = struct.pack("<HBBIIIII", 0xeb9f, 1, 0, 24, 0, len(types), len(types), len(strings)) + types + strings
put("split_btf", "fixture_split", struct.pack("<I", len(b)) + b + mod)
PY
