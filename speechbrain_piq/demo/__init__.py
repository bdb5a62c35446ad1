"""A synthetic ESC-50-shaped dataset with ground-truth event regions.

``make_demo_dataset(dest)`` (or ``python -m speechbrain_piq.demo.make_data
DEST``) writes, in seconds and without network, clips of distinct sound
events over noise together with the time-frequency box of each target
event, so that PIQ runs end to end and its masks can be scored against
the truth (``speechbrain_piq.metrics.localisation``).
"""

from speechbrain_piq.demo.clips import DemoClip, make_demo_clip, region_of
from speechbrain_piq.demo.dataset import DEMO_COLUMNS, make_demo_dataset
from speechbrain_piq.demo.events import DEMO_CATEGORIES

__all__ = [
    "DEMO_CATEGORIES",
    "DEMO_COLUMNS",
    "DemoClip",
    "make_demo_clip",
    "make_demo_dataset",
    "region_of",
]
