"""Open ddhpose's BVH and glTF exports in Blender (an independent reader) and report where the
skeleton stands: the ankles' and the head's height (Blender is z up) and the pelvis, at the
first, middle and last frame of each file, as JSON on a line starting with RESULT.

Usage: blender -b --python tools/blender_check.py -- walk.bvh walk.glb
(a BVH in centimetres, as ddhpose writes by default, is imported at scale 0.01: metres).
"""
import builtins
import json
import sys

import bpy  # noqa: F401  (Blender's own Python)
import numpy

# Blender 3.4 as some Linux distributions package it: its BVH importer opens files with mode 'rU'
# and its glTF importer uses numpy.bool, both gone from the Python / NumPy it runs on.
_open = builtins.open
builtins.open = lambda f, mode="r", *a, **k: _open(f, mode.replace("U", ""), *a, **k)
numpy.bool = bool


def stance(path: str) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if path.endswith(".bvh"):
        bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01)
    else:
        bpy.ops.import_scene.gltf(filepath=path)
    armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    action = armature.animation_data.action
    first, last = (int(f) for f in action.frame_range)
    out = {}
    for frame in (first, (first + last) // 2, last):
        bpy.context.scene.frame_set(frame)
        heads = {b.name: armature.matrix_world @ b.head for b in armature.pose.bones}
        out[frame] = {"ankles_z": [round(heads[n].z, 3) for n in ("left_ankle", "right_ankle")],
                      "head_z": round(heads["head"].z, 3), "pelvis": [round(c, 3) for c in heads["pelvis"]]}
    return out


files = sys.argv[sys.argv.index("--") + 1:]
print("RESULT " + json.dumps({path: stance(path) for path in files}))
