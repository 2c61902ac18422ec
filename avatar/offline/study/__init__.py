"""The study's experiment: swap models that differ only in side B (`avatar study run`, docs/study.md).

Every model is trained with the same driver faces (A), architecture, steps and seed; only the
presenter's training set (B) changes: GAN-synthesised faces chosen for varied expressions, for
monotone ones, or not chosen at all, and real frames spread evenly or chosen the same two ways.

Each model is then measured on held-out driver frames through the network alone (the
compositing that follows is the same for every model, so it cannot separate them):
- identity: share of outputs face_recognition matches to the held-out real presenter;
- mouth r and eye r: Pearson r between the driver's and the output's mouth and eye opening;
- inner-face KID (x 1e3) against held-out real presenter frames, beside the floor (the same man
  in another video) and a different real person, measured in the same run;
- sharpness (brows to mouth) and eye opening relative to the held-out real presenter;
- flicker of the output face between consecutive frames, beside the driver's own;
- B->B: inner-face KID of the held-out presenter faces re-drawn by the network.

Run layout under OUT: `sets/<b set>` (the B datasets), `runs/<b set>-s<seed>` (training),
`models/<b set>-s<seed>` (exported ONNX), `results/<b set>-s<seed>.json`, `sets/<b set>.json`
(the B set's own Table 2 figures). Every step is skipped when its output exists, so an
interrupted study resumes where it stopped.

Modules: `sets` (the B sets), `training` (budgets, the shared base, each model), `measure`
(the measures), `run` (`avatar study run`), `report` (`avatar study report`).
"""

from avatar.offline.study.measure import Reference, baselines, load_reference, measure_faces, measure_model
from avatar.offline.study.report import (b_set_table, collect, measure_b_sets, renders_figure, results_table,
                                         samples_figure)
from avatar.offline.study.run import run_study
from avatar.offline.study.sets import B_SETS, BSet, StudyData, b_set, make_b_sets
from avatar.offline.study.training import STUDY_BUDGETS, StudyBudget, model_name, train_and_export, train_base

__all__ = ["Reference", "baselines", "load_reference", "measure_faces", "measure_model", "b_set_table", "collect",
           "measure_b_sets", "renders_figure", "results_table", "samples_figure", "run_study", "B_SETS", "BSet",
           "StudyData", "b_set", "make_b_sets", "STUDY_BUDGETS", "StudyBudget", "model_name", "train_and_export",
           "train_base"]
