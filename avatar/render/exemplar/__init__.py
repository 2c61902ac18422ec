"""The exemplar renderer: the presenter drawn from his own real video, not decoded by a network.

A presenter folder's `library/` (a `DriverLibrary` of his consented video, held-out tails left
out) is the source of every pixel of his face. For a driver clip:

1. expression mapping: every face is brought to a canonical frame by a similarity fit of its
   steady points (eye corners, nose) onto the template; the driver's offsets from its own
   neutral face (estimated per clip from its calmest mouth) are added to the presenter's neutral;
2. retrieval: dynamic programming over the library picks, for every frame, his frame nearest in
   mouth, eyes, brows and head pose, preferring runs of consecutive frames (`coherent_path`);
3. warp: the chosen frame's face moves piecewise-affinely from its own landmarks to the target
   landmarks (one dense map through a fixed triangulation, applied with cv2.remap; a ring around
   the face moves rigidly, so nothing tears);
4. compose, in one of two framings: "own" (his own scene: his video with only the face
   re-drawn, so room, hair and body are his; the head leaves the listening loop's first frame
   and comes back to it, and the drawn face eases in and out over 0.2 s, so an answer starts and
   ends on the frame the loop shows) or "driver" (into the driver's frame, colour-matched and
   feathered as the swap composites).

Where the path jumps between non-consecutive library frames, the old run is continued and
cross-faded into the new one over a few frames, so the face does not pop.

Frames are (H, W, 3) uint8 RGB; landmarks (68, 2) float (x, y) pixels.
"""

from avatar.render.exemplar.library import PresenterLibrary, build_presenter_library, reenactment_pairs
from avatar.render.exemplar.renderer import ExemplarRenderer
from avatar.render.exemplar.retrieval import Plan, crossfades, plan, plan_from_cut
from avatar.render.exemplar.warp import compose, control_points, triangles, warp_face

__all__ = ["PresenterLibrary", "build_presenter_library", "reenactment_pairs", "ExemplarRenderer", "Plan",
           "crossfades", "plan", "plan_from_cut", "compose", "control_points", "triangles", "warp_face"]
