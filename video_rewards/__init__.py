"""video_rewards: the dual (semantic + temporal) reward for RL tuning of video LLMs.

Parse, then score: ``parse_*`` turn model output into typed predictions, ``temporal_iou`` & co. compare
them with the truth, and each registered task composes the two. Entry points: :func:`compute_score`
(verl's signature), :func:`score` (a :class:`RewardResult`), :func:`score_batch` (columns).

>>> import video_rewards as vr
>>> vr.compute_score("charades_sta", "<think>…</think><answer>[12.0, 20.0]</answer>",
...                  {"task": "tvg", "segment": [10, 20], "duration": 30})
{'score': 0.9, 'format': 1.0, 'iou': 0.8}
"""

# Imported first: it registers the built-in tasks that every lookup below relies on.
from video_rewards import builtin_tasks as _builtin_tasks  # noqa: F401
from video_rewards.config import RewardConfig
from video_rewards.geometry import Span, match_segments, shape_iou, temporal_iop, temporal_iou
from video_rewards.parsing import (
    check_format,
    find_spans,
    parse_answer_block,
    parse_choice,
    parse_grounded_answer,
    parse_number,
    parse_span,
    parse_time,
)
from video_rewards.registry import Registry, UnknownNameError
from video_rewards.scoring import COMPONENT_KEYS, Reward, RewardResult, compute_score, score, score_batch
from video_rewards.tasks import (
    TASKS,
    TaskOutcome,
    TaskSpec,
    get_task,
    known_tasks,
    register_task,
)
from video_rewards.truth import (
    ChoiceTruth,
    GroundedQATruth,
    GroundingTruth,
    GroundTruth,
    MultiGroundingTruth,
    NumericTruth,
)
from video_rewards.truth_parsing import parse_ground_truth
from video_rewards.weights import TaskWeights

#: Bumped whenever scoring behaviour changes (selection output records it next to each score).
REWARD_VERSION = "1.2.0"

__all__ = [
    "COMPONENT_KEYS",
    "REWARD_VERSION",
    "TASKS",
    "ChoiceTruth",
    "GroundTruth",
    "GroundedQATruth",
    "GroundingTruth",
    "MultiGroundingTruth",
    "NumericTruth",
    "Registry",
    "Reward",
    "RewardConfig",
    "RewardResult",
    "Span",
    "TaskOutcome",
    "TaskSpec",
    "TaskWeights",
    "UnknownNameError",
    "check_format",
    "compute_score",
    "find_spans",
    "get_task",
    "known_tasks",
    "match_segments",
    "parse_answer_block",
    "parse_choice",
    "parse_ground_truth",
    "parse_grounded_answer",
    "parse_number",
    "parse_span",
    "parse_time",
    "register_task",
    "score",
    "score_batch",
    "shape_iou",
    "temporal_iop",
    "temporal_iou",
]
