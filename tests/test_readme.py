"""The README's Python example runs as written (in a scratch folder) and does what it says."""
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Lifting your own keypoints"):text.index("## Motion in the world")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    result = scope["result"]
    assert result.poses.shape == (250, 17, 3) and result.hypotheses.shape == (5, 250, 17, 3)
    assert result.world_poses is not None and result.foot_contacts.shape == (250, 2)
    assert abs(np.median(result.world_poses[:, [3, 6], 1].min(1))) < 0.2  # feet near the floor
    assert sorted(p.name for p in tmp_path.iterdir()) == ["person.bvh", "person.npz"]
