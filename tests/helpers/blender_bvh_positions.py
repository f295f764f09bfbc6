"""Run inside Blender: import a BVH with the importer's defaults, dump the bones' world head positions.

blender -b --factory-startup --python tests/helpers/blender_bvh_positions.py -- FILE.bvh OUT.json 0,50,99

OUT.json: {"<bvh frame from 0>": {"<bone>": [x, y, z], ...}, ...} in Blender's world (z up, metres).
"""

import builtins
import json
import sys

import bpy
from io_anim_bvh import import_bvh

bvh_path, out_path, frames = sys.argv[sys.argv.index("--") + 1 :]
bpy.ops.wm.read_factory_settings(use_empty=True)



def _open_without_u(path, mode="r", *args, **kwargs):
    """Debian's Blender 3.4 importer opens the file with mode "rU", which Python 3.11 refuses."""
    return builtins.open(path, mode.replace("U", ""), *args, **kwargs)  # noqa: SIM115 (returned)


import_bvh.open = _open_without_u
bpy.ops.import_anim.bvh(filepath=bvh_path)  # defaults: forward -Z, up Y, scale 1, first frame 1
armature = bpy.context.view_layer.objects.active
positions = {}
for frame in (int(f) for f in frames.split(",")):
    bpy.context.scene.frame_set(frame + 1)
    positions[frame] = {bone.name: list(armature.matrix_world @ bone.head) for bone in armature.pose.bones}
with open(out_path, "w") as handle:
    json.dump(positions, handle)
