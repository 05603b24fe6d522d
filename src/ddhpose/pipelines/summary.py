"""What a user should know of a clip's lifted people, said at the end of ``ddhpose lift`` and
``ddhpose video``: :func:`summary`."""
from __future__ import annotations

from typing import Sequence

from ddhpose.lifting.options import ASSUMED_FOCAL
from ddhpose.lifting.result import LiftResult


def summary(results: Sequence[LiftResult]) -> str:
    """What a user should know of a clip's people, for the end of ``ddhpose lift`` / ``video``:
    the world frame (what up rests on, how sure), the camera's focal length and where it came from
    (given, a file, the video, estimated from the clip, or assumed), once for the clip or per
    person where they differ, then per person the frames, the best guess of a focal estimate that
    could not tell it, the frames where left and right were put back, and anyone the floor
    flagged."""
    lines = [f"{len(results)} {'person' if len(results) == 1 else 'people'} lifted:"]
    frame = next((r.world_frame for r in results if r.world_frame is not None), None)
    if frame is not None:
        lines.append(f"  world frame from {frame.method} (up within about {frame.uncertainty_deg:.0f} degrees; floor "
                     f"from the {frame.floor_evidence}; camera {frame.camera_height:.2f} m high, pitch "
                     f"{frame.camera_pitch_deg:.0f} degrees)")
    shared = len({(None if r.focal_length is None else round(float(r.focal_length)),
                   (r.provenance or {}).get("focal_length_source")) for r in results}) == 1
    if results and shared:  # one camera for the clip: said once
        lines.append(f"  camera: {_camera(results[0])}")
    for r in results:
        line = (f"  track {r.track_id}: frames {int(r.frames[0])}-{int(r.frames[-1])} "
                f"({int((~r.missing.all(1)).sum())} of {r.num_frames} detected)")
        if r.world_poses is None:
            line += f"; camera frame only ({r.world_note})"
        provenance = r.provenance or {}
        if not shared:
            line += f"; camera: {_camera(r)}"
        estimate = provenance.get("focal_estimate")
        if estimate and provenance.get("focal_length_source") == ASSUMED_FOCAL:
            line += f"; the clip could not tell the focal length (best {estimate['focal']:.0f} px)"
        for group, spans in provenance.get("left_right_repaired", {}).items():
            line += f"; left/right {group} put back in frames " + ", ".join(
                f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
        note = provenance.get("placement", {}).get("note")
        if note:
            line += f"; {note}"
        lines.append(line)
    return "\n".join(lines)


def _camera(r: LiftResult) -> str:
    """The focal length a result was lifted under and where it came from, in words."""
    source = (r.provenance or {}).get("focal_length_source", "source unknown")
    if r.focal_length is None:
        return "focal length unknown"
    text = f"focal length {float(r.focal_length):.0f} px, {source}"
    if source == ASSUMED_FOCAL:
        text += ": the people's distances scale with it (give --focal-length or --camera if they matter)"
    return text
