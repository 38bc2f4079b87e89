"""Sentence transformers and multi-task learning, built and measured: the model code the notebooks explain.

One module per part, each readable top to bottom:
  data       where the datasets live; TSV, labels.txt and CoNLL readers with file:line errors
  encoder    SentenceEncoder = transformer backbone -> pooling -> optional L2 normalisation
  fast       the int8 CPU inference path (ONNX export run by OpenVINO)
  kinds      what differs between sentence tasks and token tasks, in one place per kind
  tasks      Task (what the model knows of a task) and the project's task registry
  multitask  MultiTaskModel: one encoder pass, one head per task; predict, freezing, evaluation, save and load
  spans      raw text to words with offsets, valid IOB2 tags (Viterbi), entity spans with scores
  heads      heads trained on cached embeddings of a frozen encoder
  training   TrainConfig, layer-wise parameter groups, task sampling, the loop, checkpoints
  distributed  data-parallel training: each process takes its share of every batch (torchrun)
  measure    timing, STS-B Spearman, agreement with a reference
  runtime    progress bars, and the machine a figure was measured on
  figures    derived figures (ratios, seed summaries) and the one noise rule (seed spread and paired bootstrap)
  report     the report profile, the headline-figures JSON and the rows it declares for the results tables
"""

from mtl.data import data_dir, load_stsb
from mtl.encoder import SentenceEncoder, default_model_path
from mtl.heads import cached_features, fit_head, linear_probe
from mtl.kinds import KINDS
from mtl.multitask import MultiTaskModel, evaluate, evaluate_with_counts, layers
from mtl.tasks import REGISTRY, Task, TaskData, declare_tasks, load_split, register
from mtl.training import (
    TrainConfig,
    TrainingDiverged,
    collate,
    drift,
    encoder_snapshot,
    parameter_groups,
    task_probabilities,
    train,
)

__all__ = [
    "KINDS",
    "REGISTRY",
    "MultiTaskModel",
    "SentenceEncoder",
    "Task",
    "TaskData",
    "TrainConfig",
    "TrainingDiverged",
    "cached_features",
    "collate",
    "data_dir",
    "declare_tasks",
    "default_model_path",
    "drift",
    "encoder_snapshot",
    "evaluate",
    "evaluate_with_counts",
    "fit_head",
    "layers",
    "linear_probe",
    "load_split",
    "load_stsb",
    "parameter_groups",
    "register",
    "task_probabilities",
    "train",
]
