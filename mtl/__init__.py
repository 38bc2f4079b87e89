"""Sentence transformers and multi-task learning, built and measured: the model code the notebooks explain.

One module per part, each readable top to bottom:
  data       where the datasets live; TSV, labels.txt and CoNLL readers with file:line errors
  encoder    SentenceEncoder = transformer backbone -> pooling -> optional L2 normalisation
  tokenized  inputs tokenised once, kept compact, padded batch by batch
  fast       the int8 CPU inference path (ONNX export run by OpenVINO)
  kinds      what differs between sentence tasks and token tasks, in one place per kind
  tasks      Task (what the model knows of a task) and the project's task registry
  multitask  MultiTaskModel: one encoder pass, one head per task; freezing, save and load
  prediction predict and evaluate over many inputs: batched, one encoder pass for every task
  spans      raw text to words with offsets, valid IOB2 tags (Viterbi), entity spans with scores
  heads      heads trained on cached embeddings of a frozen encoder
  training   TrainConfig, layer-wise parameter groups, the loop
  sampling   which task each step trains (the schedule) and which batch it reads (BatchStream)
  checkpoint best/ and last/, and resuming a run (one process or several) exactly where it stopped
  distributed  data-parallel training: each process takes its share of every batch (torchrun)
  measure    timing (bf16 against fp32 here too), STS-B Spearman, agreement with a reference, encoder drift
  runtime    progress bars, and the machine a figure was measured on
  figures    derived figures (ratios, seed summaries) and the one noise rule (seed spread and paired bootstrap)
  experiments  the notebooks' bookkeeping: arms trained once per seed, dev scores with counts, comparisons, choices
  cache      training runs kept on disk by what decides their figures, replayed when a notebook runs again
  report     the report profile, the headline-figures JSON and the rows it declares for the results tables
  words      (a subpackage) the sentences and results rows reports 03 and 04 build from their figures
"""

from mtl.data import data_dir, load_stsb
from mtl.encoder import SentenceEncoder, default_model_path
from mtl.experiments import Experiments
from mtl.heads import cached_features, fit_head, linear_probe
from mtl.kinds import KINDS
from mtl.measure import drift, encoder_snapshot
from mtl.multitask import MultiTaskModel, layers
from mtl.prediction import evaluate, evaluate_with_counts
from mtl.sampling import task_probabilities
from mtl.tasks import REGISTRY, Task, TaskData, declare_tasks, load_split, register
from mtl.training import TrainConfig, TrainingDiverged, collate, parameter_groups, train

__all__ = [
    "KINDS",
    "REGISTRY",
    "Experiments",
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
