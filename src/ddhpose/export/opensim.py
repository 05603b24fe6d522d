"""OpenSim: a lift's joints as the markers of a generic full-body model, and the setup files
(XML) that scale the model to the person and run inverse kinematics on them.

The model and its markers are Pose2Sim's (BSD 3-Clause, ``assets/opensim/LICENSE.pose2sim``):
``Model_Pose2Sim_simple.osim``, Rajagopal et al.'s (2016) full body without muscles as Pose2Sim
adapted it, and its marker set for the Halpe26 keypoints (``Markers_Halpe26.xml``). Sixteen of
the Human3.6M joints are keypoints of that set (:data:`MARKERS`: the pelvis is its ``Hip``, the
thorax its ``Neck``, Human3.6M's neck/nose joint its ``Nose``); the spine has no marker on the
model and is written to the TRC as ``Spine``, which OpenSim skips.

Scaling follows Pose2Sim's Halpe26 setup: each body scaled by the ratio of marker distances
(:data:`MEASUREMENTS`, averaged over the frames given) to the model's, marker placement off; the
inverse kinematics weights markers as Pose2Sim does (:data:`IK_WEIGHTS`) and holds the joints no
marker constrains (ankle, foot, wrist, forearm rotation) at 0 with a weak coordinate task. This
module writes text; running it needs ``opensim`` (:mod:`ddhpose.pipelines.ik`).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

#: Human3.6M joint name -> marker name (Pose2Sim's Halpe26 names; 'Spine' has no marker on the model).
MARKERS = {
    "pelvis": "Hip", "right_hip": "RHip", "right_knee": "RKnee", "right_ankle": "RAnkle", "left_hip": "LHip",
    "left_knee": "LKnee", "left_ankle": "LAnkle", "spine": "Spine", "thorax": "Neck", "neck": "Nose",
    "head": "Head", "left_shoulder": "LShoulder", "left_elbow": "LElbow", "left_wrist": "LWrist",
    "right_shoulder": "RShoulder", "right_elbow": "RElbow", "right_wrist": "RWrist",
}
MODEL_FILE, MARKER_FILE = "Model_Pose2Sim_simple.osim", "Markers_Halpe26.xml"

#: Scaling: measurement -> (marker pairs whose mean distance is compared with the model's, bodies it scales).
MEASUREMENTS = {
    "torso": ((("LShoulder", "LHip"), ("RShoulder", "RHip")), ("torso",)),
    "pelvis": ((("RHip", "LHip"),), ("pelvis", "sacrum")),
    "arm": ((("LShoulder", "LElbow"), ("RShoulder", "RElbow")), ("humerus_r", "humerus_l")),
    "forearm": ((("LElbow", "LWrist"), ("RElbow", "RWrist")),
                ("ulna_r", "radius_r", "hand_r", "ulna_l", "radius_l", "hand_l")),
    "thigh": ((("LHip", "LKnee"), ("RHip", "RKnee")), ("femur_r", "femur_l")),
    "shank": ((("LKnee", "LAnkle"), ("RKnee", "RAnkle")),
              ("tibia_r", "talus_r", "calcn_r", "toes_r", "tibia_l", "talus_l", "calcn_l", "toes_l")),
    "head": ((("Head", "Neck"),), ("head",)),
}
#: Inverse kinematics: marker -> weight (Pose2Sim's Halpe26 weights; the head's markers weak).
IK_WEIGHTS = {"Nose": 0.1, "Head": 0.1, "Neck": 0.2, "LShoulder": 2.0, "RShoulder": 2.0, "LElbow": 1.0,
              "RElbow": 1.0, "LWrist": 1.0, "RWrist": 1.0, "Hip": 1.0, "LHip": 2.0, "RHip": 2.0, "LKnee": 1.0,
              "RKnee": 1.0, "LAnkle": 1.0, "RAnkle": 1.0}
#: Coordinates no marker of the set constrains: held at 0 by a coordinate task of this weight.
UNCONSTRAINED = ("ankle_angle_r", "subtalar_angle_r", "mtp_angle_r", "ankle_angle_l", "subtalar_angle_l",
                 "mtp_angle_l", "pro_sup_r", "wrist_flex_r", "wrist_dev_r", "pro_sup_l", "wrist_flex_l",
                 "wrist_dev_l")
UNCONSTRAINED_WEIGHT = 0.01
#: The mass (kg) the model is scaled to unless told: the joint angles do not depend on it.
DEFAULT_MASS = 70.0


def marker_names(joint_names: Sequence[str]) -> tuple[str, ...]:
    """The TRC marker name of every joint (a ValueError names the joints without one)."""
    unknown = [n for n in joint_names if n not in MARKERS]
    if unknown:
        raise ValueError(f"no OpenSim marker for the joint(s) {unknown}; markers exist for {sorted(MARKERS)}")
    return tuple(MARKERS[n] for n in joint_names)


def asset(name: str) -> Path:
    """The path of a bundled OpenSim file (:data:`MODEL_FILE`, :data:`MARKER_FILE`)."""
    return Path(str(resources.files("ddhpose") / "assets" / "opensim" / name))


def _beside(name: str) -> str:
    """A file name the setup refers to: it lies in the setup's own folder (OpenSim's tools read
    their files relative to it; they join even an absolute path onto it)."""
    if Path(name).name != name:
        raise ValueError(f"{name}: expected a file name in the setup's folder, not a path")
    return escape(name)


def scale_setup(trc: str, time_range: tuple[float, float], output_model: str, *, mass: float = DEFAULT_MASS,
                model: str | Path | None = None, markers: str | Path | None = None) -> str:
    """The ScaleTool setup (XML text) scaling the generic model (``model``, ``markers``: paths;
    default the bundled ones) to the marker distances of ``trc`` over ``time_range`` (seconds) and
    writing ``output_model`` (file names beside the setup); ``mass`` kg (the model's mass is scaled
    to it, which kinematics do not use)."""
    if not mass > 0:
        raise ValueError(f"mass: expected kilograms > 0, got {mass}")
    start, end = time_range
    if not end >= start:
        raise ValueError(f"time_range: expected (start, end) with end >= start, got {time_range}")
    measurements = []
    for name, (pairs, bodies) in MEASUREMENTS.items():
        pair_xml = "".join(f"<MarkerPair><markers>{a} {b}</markers></MarkerPair>" for a, b in pairs)
        body_xml = "".join(f'<BodyScale name="{b}"><axes>X Y Z</axes></BodyScale>' for b in bodies)
        measurements.append(f'<Measurement name="{name}"><apply>true</apply>'
                            f"<MarkerPairSet><objects>{pair_xml}</objects></MarkerPairSet>"
                            f"<BodyScaleSet><objects>{body_xml}</objects></BodyScaleSet></Measurement>")
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40500">
  <ScaleTool name="ddhpose_scaled">
    <mass>{mass:g}</mass>
    <GenericModelMaker>
      <model_file>{escape(str(Path(model or asset(MODEL_FILE)).resolve()))}</model_file>
      <marker_set_file>{escape(str(Path(markers or asset(MARKER_FILE)).resolve()))}</marker_set_file>
    </GenericModelMaker>
    <ModelScaler>
      <apply>true</apply>
      <scaling_order>measurements</scaling_order>
      <MeasurementSet><objects>
        {chr(10).join('        ' + m for m in measurements).lstrip()}
      </objects></MeasurementSet>
      <marker_file>{_beside(trc)}</marker_file>
      <time_range>{start:.6f} {end:.6f}</time_range>
      <preserve_mass_distribution>true</preserve_mass_distribution>
      <output_model_file>{_beside(output_model)}</output_model_file>
    </ModelScaler>
    <MarkerPlacer><apply>false</apply></MarkerPlacer>
  </ScaleTool>
</OpenSimDocument>
"""


def ik_setup(model: str, trc: str, time_range: tuple[float, float], output_motion: str) -> str:
    """The InverseKinematicsTool setup (XML text) fitting ``model`` to the markers of ``trc`` over
    ``time_range`` (seconds) and writing the joint angles to ``output_motion`` (.mot, degrees);
    file names beside the setup."""
    start, end = time_range
    tasks = [f'<IKMarkerTask name="{m}"><apply>true</apply><weight>{w:g}</weight></IKMarkerTask>'
             for m, w in IK_WEIGHTS.items()]
    tasks += [f'<IKCoordinateTask name="{c}"><apply>true</apply><weight>{UNCONSTRAINED_WEIGHT:g}</weight>'
              f"<value_type>manual_value</value_type><value>0</value></IKCoordinateTask>" for c in UNCONSTRAINED]
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40500">
  <InverseKinematicsTool name="ddhpose_ik">
    <model_file>{_beside(model)}</model_file>
    <constraint_weight>Inf</constraint_weight>
    <accuracy>1e-05</accuracy>
    <IKTaskSet><objects>
      {(chr(10) + '      ').join(tasks)}
    </objects></IKTaskSet>
    <marker_file>{_beside(trc)}</marker_file>
    <time_range>{start:.6f} {end:.6f}</time_range>
    <output_motion_file>{_beside(output_motion)}</output_motion_file>
    <report_errors>true</report_errors>
    <report_marker_locations>false</report_marker_locations>
  </InverseKinematicsTool>
</OpenSimDocument>
"""
