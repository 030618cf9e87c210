"""Human poses: 4M-21 text, pose tokenizer, the callable hook, and MediaPipe on real weights."""
from __future__ import annotations

import importlib.util
import random
import sys
import types

import numpy as np
import pytest

from fourm_human_poses import pose_tokenizer, tokenize_poses
from fourm_human_poses.blazepose import body_frame, swing
from fourm_human_poses.labelers import CallableLabeler
from fourm_human_poses.serial import POSE_DIM, POSE_TOKENS, from_text, to_text
from fourm_registry import FourmError, Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate

HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None


class TestHumanPoseConformance(ModalityConformance):
    modalities = ("human_poses", "human_keypoints", "person_mask")
    allow = ("human_poses",)


def person(**kw):
    p = {"box": [0.1, 0.2, 0.5, 0.9], "global_orient": [1, 0, 0, 0, -1, 0, 0, 0, -1],
         "pose_tokens": [0, 511, 512, 1023, 7, 8, 9, 10], "betas": [0.0] * 9 + [3.0], "camera": [1.0, 0.0, 19.0]}
    return {**p, **kw}


def test_text_is_box_then_four_shuffled_blocks():
    random.seed(1)
    text = to_text([person()])
    words = text.split()
    assert words[:5] == ["human", "v0=100", "v1=200", "v2=500", "v3=899"]
    assert len(words) == 39  # 4M-21: 39 tokens per person
    pose = words[words.index("pose") + 1: words.index("pose") + 9]
    assert pose[:4] == ["v0=0", "v0=511", "v1=0", "v1=511"]
    assert words[words.index("camera") + 1:words.index("camera") + 4] == ["v0=100", "v0=50", "v0=999"]
    orders = {tuple(w for w in to_text([person()]).split() if w.isalpha()) for _ in range(8)}
    assert len(orders) > 1  # blocks are shuffled
    (back,) = from_text(text)
    assert back["pose_tokens"] == person()["pose_tokens"] and back["betas"][-1] == 3.0


def test_incomplete_people_in_generated_text_are_dropped():
    text = to_text([person(), person()])
    cut = text[: text.rindex("human")] + "human v0=1 v1=2 pose v0=3"
    assert len(from_text(cut)) == 1
    assert from_text("human human") == []


def test_raw_poses_need_tokenising_first():
    raw = person(pose=np.eye(3).ravel().tolist() * 23)
    del raw["pose_tokens"]
    with pytest.raises(ValueError, match="tokenize_poses"):
        to_text([raw])
    (value,) = tokenize_poses([[raw]], pose_tokenizer())
    assert len(value[0]["pose_tokens"]) == POSE_TOKENS
    assert from_text(to_text(value))[0]["pose_tokens"] == value[0]["pose_tokens"]


def test_pose_tokenizer_saves_and_loads(tmp_path):
    tok = pose_tokenizer()
    poses = [np.random.default_rng(i).normal(size=POSE_DIM) for i in range(3)]
    tok.save_pretrained(tmp_path)
    again = pose_tokenizer(tmp_path)
    assert np.array_equal(np.stack(again.encode(poses)), np.stack(tok.encode(poses)))
    assert len(again.decode(again.encode(poses))[0]) == POSE_DIM


def test_any_callable_is_a_labeler(monkeypatch):
    mod = types.ModuleType("my_hmr")
    mod.label = lambda images: [[person()] for _ in images]
    mod.broken = lambda images: [[{"box": [0, 0, 1]}] for _ in images]
    monkeypatch.setitem(sys.modules, "my_hmr", mod)
    spec = Registry.build(allow=["human_poses"]).get_modality("human_poses")
    out = spec.create_labeler("my_hmr:label")([np.zeros((8, 8, 3), np.uint8)] * 2)
    assert out == [[person()], [person()]]
    with pytest.raises(FourmError, match="image #0: box"):
        CallableLabeler(mod.broken)([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(FourmError, match="module:function"):
        spec.create_labeler("no_colon_here")


def test_swing_and_body_frame_are_rotations():
    r = swing(np.array([0, -1.0, 0]), np.array([1.0, 0, 0]))
    assert np.allclose(r @ [0, -1, 0], [1, 0, 0]) and np.isclose(np.linalg.det(r), 1)
    assert np.allclose(swing([0, 1.0, 0], [0, -1.0, 0]) @ [0, 1, 0], [0, -1, 0])
    world = np.zeros((33, 3))
    world[23], world[24] = [0.1, 0, 0], [-0.1, 0, 0]  # left hip on camera +x: facing the camera
    world[11], world[12] = [0.2, -0.5, 0], [-0.2, -0.5, 0]  # shoulders up (camera y is down)
    assert np.allclose(body_frame(world), np.diag([1, -1, -1]))


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="needs the [mediapipe] extra (mediapipe==0.10.14)")
def test_mediapipe_labeler_on_real_weights(tmp_path):
    from skimage import data

    reg = Registry.build(allow=["human_poses"])
    pose_tokenizer().save_pretrained(tmp_path)
    lab = reg.get_labeler("mediapipe_pose").factory(str(tmp_path), "cpu")
    astronaut, coffee = lab([data.astronaut(), data.coffee()])
    assert coffee == []  # no person in a coffee cup
    (p,) = astronaut
    x0, y0, x1, y1 = p["box"]
    assert 0 <= x0 < 0.35 and 0.45 < x1 <= 1 and y0 < 0.3  # she fills the left/centre, head at the top
    orient = np.reshape(p["global_orient"], (3, 3))
    assert np.allclose(orient @ orient.T, np.eye(3), atol=1e-6) and orient[1, 1] < -0.8  # upright
    assert orient[2, 2] < -0.8  # facing the camera
    joints = np.reshape(p["pose"], (23, 3, 3))
    assert np.allclose(np.linalg.det(joints), 1) and len(p["pose_tokens"]) == POSE_TOKENS
    spec = reg.get_modality("human_poses")
    assert spec.extras["distance"](astronaut, from_text(to_text(astronaut))) < 2e-3


def test_keypoint_text_marks_hidden_points():
    from fourm_human_poses.keypoints import from_text as kp_from_text, to_text as kp_to_text

    kp = [[0.5, 0.25, 1]] + [[0.0, 0.0, 0]] * 32
    text = kp_to_text([{"keypoints": kp}])
    assert text.split()[:4] == ["person", "v0=500", "v1=250", "v2=0"] and len(text.split()) == 35
    assert kp_from_text(text)[0]["keypoints"][0] == pytest.approx([0.5, 0.25, 1], abs=1e-3)
    assert kp_from_text("person v0=1 v1=2") == []  # too few keypoints


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MEDIAPIPE, reason="needs the [mediapipe] extra (mediapipe==0.10.14)")
def test_keypoints_and_person_mask_on_real_weights():
    from skimage import data

    reg = Registry.build(allow=["human_poses"])
    astronaut, coffee = reg.get_modality("human_keypoints").create_labeler()([data.astronaut(), data.coffee()])
    assert coffee == [] and len(astronaut) == 1
    kp = np.asarray(astronaut[0]["keypoints"])
    nose, l_shoulder, r_shoulder = kp[0], kp[11], kp[12]
    assert nose[2] == 1 and nose[1] < l_shoulder[1] and l_shoulder[0] > r_shoulder[0]  # upright, facing us
    (mask,) = reg.get_modality("person_mask").create_labeler()([data.astronaut()])
    assert mask.shape == (512, 512) and set(np.unique(mask)) == {0, 255}
    face = mask[int(nose[1] * 512) - 10:int(nose[1] * 512) + 10, int(nose[0] * 512) - 10:int(nose[0] * 512) + 10]
    assert face.mean() > 200 and mask[:, 480:].mean() < mask[100:300, 150:300].mean()


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["human_poses"])
    mine = list(("human_poses", "human_keypoints", "person_mask"))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)
