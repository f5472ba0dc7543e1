"""The built-in plugins ship inside the wheel, not only in an editable checkout."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_the_builtin_plugins_and_package_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("mars_zoo-*.whl"))
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    sources = {f"mars_zoo/{p.relative_to(ROOT / 'mars_zoo').as_posix()}" for p in (ROOT / "mars_zoo").rglob("*.py")}
    sources |= {f"mars_zoo_openclip/{p.name}" for p in (ROOT / "plugins" / "openclip").glob("*.py")}
    assert sources - names == set()
    for required in (
        "mars_zoo_openclip/mars-zoo-tiny-random.json",
        "mars_zoo/schema/result-v1.schema.json",
        "mars_zoo/leaderboard/assets/leaderboard.js",
        "mars_zoo/leaderboard/PROTOCOL.md",
    ):
        assert required in names, required
    # The methodology page's text: the repository's protocol document itself, not a link to it.
    shipped = (unpacked / "mars_zoo" / "leaderboard" / "PROTOCOL.md").read_bytes()
    assert shipped == (ROOT / "leaderboard" / "PROTOCOL.md").read_bytes()
    code = (
        "import json, mars_zoo, mars_zoo_openclip; from mars_zoo.registry import load_registry; "
        "spec = load_registry().get('openclip/tiny-random'); spec.load('cpu', 'fp32'); "
        "print(json.dumps([mars_zoo.__file__, mars_zoo_openclip.__file__]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(unpacked), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    files = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(Path(f).is_relative_to(unpacked) for f in files)
