#!/usr/bin/env python3
"""Read profc's ISF through Volatility 3's own object API.

usage:
  vol3_objects.py types ISF SYMBOL...
      loads ISF into a volatility3 Context (IntermediateSymbolTable) and, for
      each SYMBOL, prints what Volatility 3 makes of its type: the type name,
      the object class, the size and (records) the member offsets.
  vol3_objects.py linux ISF RAW DTB SHIFT [SYMBOL...]
      stacks an Intel32e layer (page_map_offset=DTB) over the raw physical
      image RAW, makes a module of the ISF at the KASLR SHIFT (both hex or
      decimal) and reads typed symbols as objects: init_task (walking its
      `tasks` list), `modules` (walking the list of struct module) and
      init_uts_ns; and (`symbols`) the SYMBOLs' types as `types` prints them
      (records with a Linux extension class, task_struct or list_head, have
      that class).

Prints one JSON document on stdout; the caller compares it with independent
truth (pahole, llvm-pdbutil, the guest's own /proc). Exit 2 when
volatility3 is not installed (the caller skips), 1 on any other failure.
"""
import json
import os
import sys

try:
    from volatility3.framework import contexts
    from volatility3.framework.layers import intel, physical
    from volatility3.framework.objects import templates
    from volatility3.framework.symbols import intermed
    from volatility3.framework.symbols.linux import LinuxKernelIntermedSymbols

    # (the Linux table's class types live in submodules the CLI imports
    # with its plugins)
    import volatility3.framework.symbols.linux.extensions.network  # noqa: F401
except ImportError:
    print("volatility3 is not installed", file=sys.stderr)
    sys.exit(2)


def table(ctx, path, cls=intermed.IntermediateSymbolTable):
    name = ctx.symbol_space.free_table_name("profc")
    t = cls(ctx, "symbols." + name, name, isf_url="file://" + os.path.abspath(path))
    ctx.symbol_space.append(t)
    return name, t


def describe(ctx, template):
    """What Volatility 3 knows of a type template."""
    if isinstance(template, templates.ReferenceTemplate):
        # a record named by reference: resolved through the symbol space
        template = ctx.symbol_space.get_type(template.vol.type_name)
    out = {
        "type": template.vol.type_name.split("!", 1)[-1],
        "class": template.vol.object_class.__name__,
        "size": template.size,
    }
    members = getattr(template.vol, "members", None)
    if members:
        out["members"] = {m: off for m, (off, _) in members.items()}
    if out["class"] == "Array":
        out["count"] = template.vol.count
        out["subtype"] = describe(ctx, template.vol.subtype)
    return out


def symbol_types(ctx, t, names):
    result = {}
    for n in names:
        sym = t.get_symbol(n)
        result[n] = {"address": sym.address, **describe(ctx, sym.type)}
    return result


def types(isf, names):
    ctx = contexts.Context()
    _, t = table(ctx, isf)
    return symbol_types(ctx, t, names)


def string(obj, n):
    return obj.cast("string", max_length=n, errors="replace")


def linux(isf, raw, dtb, shift, names):
    ctx = contexts.Context()
    name, t = table(ctx, isf, LinuxKernelIntermedSymbols)
    ctx.config["layers.phys.location"] = "file://" + os.path.abspath(raw)
    ctx.add_layer(physical.FileLayer(ctx, "layers.phys", "phys"))
    ctx.config["layers.kernel.memory_layer"] = "phys"
    ctx.config["layers.kernel.page_map_offset"] = dtb
    ctx.add_layer(intel.Intel32e(ctx, "layers.kernel", "kernel"))
    kernel = ctx.module(name, "kernel", offset=shift)

    init_task = kernel.object_from_symbol("init_task")
    tasks = []
    for task in [init_task] + list(
        init_task.tasks.to_list(name + "!task_struct", "tasks")
    ):
        parent = task.real_parent.dereference()
        tasks.append(
            {
                "pid": int(task.pid),
                "ppid": int(parent.tgid) if int(task.pid) else 0,
                "comm": string(task.comm, 16),
            }
        )
    head = kernel.object_from_symbol("modules")
    modules = []
    for mod in head.to_list(name + "!module", "list"):
        modules.append(
            {
                "name": string(mod.name, 64),
                "base": int(mod.core_layout.base),
                "size": int(mod.core_layout.size) + int(mod.init_layout.size),
            }
        )
    uts = kernel.object_from_symbol("init_uts_ns")
    return {
        "init_task": {
            "type": init_task.vol.type_name.split("!", 1)[-1],
            "size": init_task.vol.size,
            "address": init_task.vol.offset,
        },
        "tasks": tasks,
        "modules": modules,
        "release": string(uts.name.release, 65),
        "modules_type": head.vol.type_name.split("!", 1)[-1],
        "symbols": symbol_types(ctx, t, names),
    }


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "types":
        doc = types(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 6 and sys.argv[1] == "linux":
        dtb, shift = int(sys.argv[4], 0), int(sys.argv[5], 0)
        doc = linux(sys.argv[2], sys.argv[3], dtb, shift, sys.argv[6:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    json.dump(doc, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
