import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_ml_never_imports_django():
    code = (
        "import sys, ml.segmentation.train, ml.segmentation.predict, ml.segmentation.evaluate, "
        "ml.segmentation.predictor, ml.segmentation.components, ml.synthetic; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
