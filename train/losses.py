"""The loss terms of every stage, each a small pure function of model outputs.

- ``hard_loss``: cross-entropy to the labels (MSE for a single regression output): stages 0 and 3.
- ``logit_loss``: the student's logits against the teacher's: soft cross-entropy (MSE for regression).
- ``hidden_loss``: DynaBERT's intermediate term, MSE of the embedding output plus MSE of matched hidden
  states; ``layer_pairs`` says which student layer is matched to which teacher layer.
- ``pkd_loss``: Patient Knowledge Distillation (Sun et al., 2019), an alternative intermediate term on the
  normalised [CLS] vectors of the teacher's last-k or every-k-th layers.
- ``distill_loss``: one sub-network's full distillation loss, as the config asks for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dynabert.adaptive import AdaptiveOutput
from dynabert.arch import SubnetSpec
from dynabert.importance import task_loss

hard_loss = task_loss  # one definition: the importance scores and the training agree on "the task loss"


def logit_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Soft cross-entropy to the teacher's distribution; MSE when there is one (regression) output.

    Summed over classes and averaged over the batch, i.e. the cross-entropy of each example. (The
    official code's ``.mean()`` also divides by the number of classes, which only rescales the term.)
    At temperature T the term is multiplied by T^2, which keeps its gradient scale independent of T.
    """
    if student.shape[-1] == 1:
        return F.mse_loss(student.float(), teacher.float())
    t = temperature
    target = F.softmax(teacher.float() / t, dim=-1)
    return -(target * F.log_softmax(student.float() / t, dim=-1)).sum(-1).mean() * (t * t)


def layer_pairs(spec: SubnetSpec, num_teacher_layers: int) -> list[tuple[int, int]]:
    """(student hidden-state index, teacher layer index) pairs for the hidden-state loss.

    The student's i-th hidden state is the output of full-model layer ``spec.layers[i]``, matched to the
    teacher's output of that same layer; a shallower student's last layer is also matched to the
    teacher's last layer, so the representation the classifier reads is distilled too.
    """
    pairs = list(enumerate(spec.layers))
    last = num_teacher_layers - 1
    if spec.layers[-1] != last:
        pairs.append((len(spec.layers) - 1, last))
    return pairs


def hidden_loss(student: AdaptiveOutput, teacher: AdaptiveOutput, pairs: list[tuple[int, int]],
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE of the embedding outputs plus the sum of MSEs of the matched hidden states.

    Padded positions are left out: their values depend on how much padding the batch happened to have.
    """
    def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if attention_mask is None:
            return F.mse_loss(a.float(), b.float())
        mask = attention_mask[..., None].to(torch.float32)
        return ((a.float() - b.float()) ** 2 * mask).sum() / (mask.sum() * a.shape[-1])

    loss = mse(student.embedding, teacher.embedding)
    for s, t in pairs:
        loss = loss + mse(student.hidden_states[s], teacher.hidden_states[t])
    return loss


def pkd_pairs(num_student_layers: int, num_teacher_layers: int, strategy: str) -> list[tuple[int, int]]:
    """PKD's (student layer, teacher layer) pairs; the last student layer is left to the logit term.

    ``skip``: every k-th teacher layer, k = N / n (PKD-Skip: layers 2, 4, 6, 8, 10 of 12 for a 6-layer
    student, 1-based); ``last``: the teacher's last n - 1 layers before its final one (PKD-Last).
    """
    n, big_n = num_student_layers, num_teacher_layers
    if strategy == "skip":
        return [(j, (j + 1) * big_n // n - 1) for j in range(n - 1)]
    if strategy == "last":
        return [(j, big_n - n + j) for j in range(n - 1)]
    raise ValueError(f"unknown PKD strategy {strategy!r}; use 'skip' or 'last'")


def pkd_loss(student: AdaptiveOutput, teacher: AdaptiveOutput, strategy: str) -> torch.Tensor:
    """Patient loss: squared distance of L2-normalised [CLS] vectors, summed over pairs, mean over batch."""
    pairs = pkd_pairs(len(student.hidden_states), len(teacher.hidden_states), strategy)
    loss = student.logits.new_zeros((), dtype=torch.float32)
    for s, t in pairs:
        hs = F.normalize(student.hidden_states[s][:, 0].float(), dim=-1)
        ht = F.normalize(teacher.hidden_states[t][:, 0].float(), dim=-1)
        loss = loss + ((hs - ht) ** 2).sum(-1).mean()
    return loss


def distill_loss(student: AdaptiveOutput, teacher: AdaptiveOutput, labels: torch.Tensor,
                 attention_mask: torch.Tensor | None, *, intermediate: str, hidden_weight: float,
                 pkd_alpha: float = 0.5, pkd_beta: float = 100.0, pkd_temperature: float = 5.0,
                 pkd_strategy: str = "skip") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One sub-network's distillation loss and its detached parts (for the log; read lazily, no GPU sync).

    ``mse`` (DynaBERT): soft CE + hidden_weight * (embedding + matched hidden-state MSE).
    ``pkd``: (1 - alpha) * hard CE + alpha * soft CE at temperature T + beta * patient loss.
    ``none``: the logit term alone.
    """
    if intermediate == "pkd":
        soft = logit_loss(student.logits, teacher.logits, pkd_temperature)
        hard = hard_loss(student.logits, labels)
        patient = pkd_loss(student, teacher, pkd_strategy)
        loss = (1 - pkd_alpha) * hard + pkd_alpha * soft + pkd_beta * patient
        return loss, {"logit": soft.detach(), "hard": hard.detach(), "patient": patient.detach()}
    logit = logit_loss(student.logits, teacher.logits)
    if intermediate == "none":
        return logit, {"logit": logit.detach()}
    if intermediate != "mse":
        raise ValueError(f"unknown intermediate loss {intermediate!r}; use mse, pkd or none")
    pairs = layer_pairs(student.spec, len(teacher.hidden_states))
    hidden = hidden_loss(student, teacher, pairs, attention_mask)
    return logit + hidden_weight * hidden, {"logit": logit.detach(), "hidden": hidden.detach()}
