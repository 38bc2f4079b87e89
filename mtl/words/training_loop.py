"""What notebook 04 (the training loop) says of its measurements: where each dev split comes from, section 3's
words on the long-budget pair, the first screen (the final models against their targets, met or missed, and what was
measured about each miss; the rates, multi-task and sharing takeaways), section 7's misses and the results rows. The
notebook trains, scores and compares; this module puts the figures into words, so that the notebook's code shows the
experiment and this module the accounting of its sentences. Every sentence and row is built from the figures the
notebook writes to reports/04_training_loop.json: the targets' sentences (`Final`) from the notebook's objects when
it runs, and again from the JSON alone (`Final.from_figures`, over the `targets` record it writes).
"""

import math
from dataclasses import dataclass

import numpy as np

from mtl import REGISTRY
from mtl.experiments import per_task, spread, worded
from mtl.figures import beyond, verdict
from mtl.report import row
from mtl.tasks import Carve

PUBLISHED = {  # single-task fine-tuning of published encoders, on the split each task reports: (figure, source, short)
    "sentiment": (91.5, "MiniLM-L6xH384 (6 layers, 384 wide, 22M parameters, uncased) fine-tuned on SST-2 alone, GLUE "
                  "dev accuracy, in the MiniLM README of microsoft/unilm (Wang et al. 2020)",
                  "MiniLM-L6xH384, an encoder of this size, fine-tuned on SST-2 alone"),
    "ner": (92.59, "bert-base-cased (12 layers, 768 wide, 110M parameters, cased) fine-tuned on CoNLL-2003, test "
            "entity F1, on the dslim/bert-base-NER model card; no figure for a 6-layer uncased encoder was found",
            "bert-base-cased, 5 times this encoder's size and cased, fine-tuned on CoNLL-2003 alone (none was found "
            "for an encoder of this size)"),
}  # fmt: skip


def sampling_error(accuracy, n):
    """Half the 95% binomial interval of an accuracy over n rows, in points: what one test set alone can resolve."""
    return 1.96 * math.sqrt(accuracy / 100 * (1 - accuracy / 100) / n) * 100


def above(gap, digits=2):
    """A signed gap in words: "0.70 above", "0.40 below"."""
    return f"{abs(gap):.{digits}f} {'above' if gap >= 0 else 'below'}"


def told_apart(c, size):
    """The noise rule (mtl.figures) on a comparison's difference from `size` rather than from zero: both the paired
    bootstrap interval and the seed noise exclude `size` (shifting by `size` leaves the noise as it is)."""
    low, high = c["bootstrap_95"] or (None, None)
    shifted = c["difference"] - size
    return (low is not None and (low > size or high < size)
            and beyond(shifted, c["noise"], 2) and beyond(shifted, c["seed_noise"], 2))  # fmt: skip


def capitalised(split):
    """The shares (%) of a token task's words that start with a capital: inside entities, and outside them."""
    words, tags = split
    pairs = [(w[:1].isupper(), t != "O") for ws, ts in zip(words, tags) for w, t in zip(ws, ts)]
    return tuple(round(100 * float(np.mean([up for up, inside in pairs if inside == entity])), 1)
                 for entity in (True, False))  # fmt: skip


@dataclass
class Final:
    """The final models' figures that the sentences about their targets quote: the notebook builds it from its
    objects, records what the rest of its JSON does not hold (`record`), and `from_figures` builds it again from
    the JSON alone."""

    arms: dict  # label -> {"scores": {task: seed summary}, "steps": {task: [updates per seed]}} (the JSON's arms)
    arm: str  # the final models' arm
    joint: str  # the chosen rates' joint arm (the final arm, unless a loss-weight lever was kept)
    alone: dict  # task -> the arm of the task trained alone at the chosen rates, with its joint updates
    test: dict  # task -> the final models' test scores over the seeds (mtl.figures.seed_summary)
    test_rows: dict  # task -> test rows scored
    sharing: dict  # task -> joint minus alone, on dev
    moving: dict  # task -> the final arm's last two dev evaluations compared (Experiments.last_two)
    pooled_std: dict  # task -> one run's seed std, pooled over the notebook's arms
    steps: int  # each joint run's steps
    batch_size: int
    sizes: dict  # task -> training rows
    capitalised: dict  # token task -> (% of dev entity words that start with a capital, % of the other words)
    uncased: bool  # the tokenizer lower-cases its input
    long_run: dict | None = None  # reports/long_run.json, where scripts/long_run.py has been run
    stops: dict | None = None  # task -> the long run's step where it stops moving (None: never)
    same_rows: tuple = ()  # tasks whose dev split here is every row of the dev file, as the long run scores it
    shapes: dict | None = None  # task -> word shapes minus none (reports/training_levers.json), where run
    shapes_settings: dict | None = None  # those runs' settings: steps, dev rows
    probe: dict | None = None  # task -> the frozen-encoder probe's scores, {"dev": ..., "test": ...}
    converged: bool = False  # whether section 3 shows the budget converged

    def record(self):
        """What the sentences quote that the rest of the notebook's JSON does not hold, for `from_figures`."""
        long_run = self.long_run and {
            "settings": {"steps": self.long_run["settings"]["steps"]},
            "curve": self.long_run["curve"][-1:],
        }  # the end, which the sentences quote
        return {"joint": self.joint, "alone": self.alone, "test_rows": self.test_rows, "pooled_std": self.pooled_std,
                "capitalised": self.capitalised, "uncased": self.uncased, "long_run": long_run, "stops": self.stops,
                "same_rows": list(self.same_rows), "shapes_settings": self.shapes_settings,
                "probe": self.probe}  # fmt: skip

    @classmethod
    def from_figures(cls, figures):
        """The Final the notebook built, from its JSON alone."""
        kept, shapes = figures["targets"], figures["misses"].get("word_shapes_for_ner") or {}
        return cls(
            arms=figures["arms"], arm=figures["final"]["arm"], joint=kept["joint"], alone=kept["alone"],
            test={n: t["final"] for n, t in figures["tasks"].items()}, test_rows=kept["test_rows"],
            sharing=figures["sharing"]["joint_minus_alone"], moving=figures["convergence"]["final_last_two"],
            pooled_std=kept["pooled_std"], steps=figures["convergence"]["steps"],
            batch_size=figures["final"]["config"]["batch_size"], sizes=figures["settings"]["train_sizes"],
            capitalised=kept["capitalised"], uncased=kept["uncased"], long_run=kept["long_run"], stops=kept["stops"],
            same_rows=kept["same_rows"], shapes=shapes.get("minus_none"), shapes_settings=kept["shapes_settings"],
            probe=kept["probe"], converged=figures["convergence"]["converged"],
        )  # fmt: skip

    def dev(self, n):
        return self.arms[self.arm]["scores"][n]["mean"]

    def met(self, n):
        return bool(self.test[n]["mean"] >= REGISTRY[n].target)

    def missed(self):
        return [n for n in self.test if not self.met(n)]

    def short_by(self, n):  # the miss, in test points
        return REGISTRY[n].target - self.test[n]["mean"]

    def epochs(self, n):
        return np.mean(self.arms[self.arm]["steps"][n]) * self.batch_size / self.sizes[n]

    def offset(self, n):  # the final models' test score minus their dev score
        return self.test[n]["mean"] - self.dev(n)

    def split_words(self, n, digits=2):
        """The final models' scores on this project's dev split and on the reported split, and whether the
        frozen-encoder probe moves the same way between the two (then the offset is not peculiar to these models)."""
        off, probe = self.offset(n), (self.probe or {}).get(n)
        said = (
            f"the final models score {self.dev(n):.{digits}f} on this project's dev draw and {abs(off):.{digits}f} "
            f"{'less' if off < 0 else 'more'} on the reported split"
        )
        if probe is None:
            return said
        probe_off = probe["test"] - probe["dev"]
        same = probe_off * off > 0
        return said + (
            f"; the frozen-encoder probe moves {'the same way' if same else 'the other way'} "
            f"({probe['dev']:.{digits}f} "
            f"to {probe['test']:.{digits}f}, {probe_off:+.{digits}f})"
            + (", so the offset is not peculiar to these models" if same else "")
        )

    def alone_dev(self, n):  # the task trained alone: its dev mean
        return self.arms[self.alone[n]]["scores"][n]["mean"]

    def alone_at_offset(self, n):  # the task trained alone, its dev score moved by the dev-to-test offset
        return self.alone_dev(n) + self.offset(n)

    def longer_end(self, n):  # the longer run's last dev score minus the final models' dev mean
        return self.long_run["curve"][-1]["dev"][n] - self.dev(n)

    def met_words(self, n):
        """Met or missed; a mean within one seed std of its target is met (or missed) only by its mean."""
        gap, rows = self.test[n]["mean"] - REGISTRY[n].target, self.test_rows[n]
        word = "met" if self.met(n) else "missed"
        accuracy = REGISTRY[n].metric == "accuracy"
        error = sampling_error(self.test[n]["mean"], rows) if accuracy else None  # the test set's, not the seeds'
        nominal = (f"within the test set's sampling error (±{error:.1f}), so {word} only nominally"
                   if error is not None and abs(gap) < error else "")  # fmt: skip
        if abs(gap) >= self.test[n]["std"]:
            return word + (f", {nominal}" if nominal else "")
        below = sum(v < REGISTRY[n].target for v in self.test[n]["values"])
        one = 100 / rows  # one test example's share of an accuracy
        return (f"{word} by its mean, {abs(gap):.2f} {'above' if word == 'met' else 'below'}"
                + (f", less than one of its {rows:,d} test examples, {one:.2f} points"
                   if accuracy and abs(gap) < one else "")
                + f"; {below} of {len(self.test[n]['values'])} seeds below"
                + (f"; {nominal}" if nominal else ""))  # fmt: skip

    def sharing_words(self, n, digits=2):
        c = self.sharing[n]
        if c["finding"]:
            return f"sharing the encoder {'costs' if c['difference'] < 0 else 'gains'} it {worded(c, digits)}"
        return "a sharing cost as large as the miss is " + (
            "ruled out by both the seed spread and the bootstrap" if told_apart(c, -self.short_by(n))
            else f"not ruled out (noise ±{c['noise']:.{digits}f})")  # fmt: skip

    def why_missed(self, n):
        """Everything measured about a miss, for section 7."""
        target, moving = REGISTRY[n].target, self.moving[n]
        reasons = [self.split_words(n),
                   f"trained alone with the same updates it scores "
                   f"{spread(self.arms[self.alone[n]]['scores'][n], 2)} on dev, jointly "
                   f"{spread(self.arms[self.joint]['scores'][n], 2)}, joint minus alone "
                   f"{worded(self.sharing[n])}: "
                   f"{self.sharing_words(n)}; moved by the final models' dev-to-test offset, the task alone would "
                   f"score about {self.alone_at_offset(n):.1f} on test, "
                   + ("also short of the target" if self.alone_at_offset(n) < target else "at the target")
                   + " (an estimate: it was not tested)",
                   f"in {self.steps:,d} steps it had {self.epochs(n):.1f} epochs of its {self.sizes[n]:,d} training "
                   f"rows, and its last two dev evaluations differ by "
                   + (f"{moving['difference']:+.2f} ({verdict(moving)}; noise ±{moving['noise']:.2f}, as wide as the "
                      "miss: a gain that size is not ruled out)" if moving["noise"] >= self.short_by(n)
                      else worded(moving))]  # fmt: skip
        if self.long_run:
            tolerance = 2 * self.pooled_std[n]
            reasons.append(
                f"a longer run ({self.long_run['settings']['steps']:,d} steps, one seed, scored on every row of the "
                "dev file) "
                + (f"stops moving at its step {self.stops[n]:,d} (tolerance ±{tolerance:.2f}"
                   + (", as wide as the miss" if tolerance >= self.short_by(n) else "") + ")" if self.stops.get(n)
                   else "is still moving at its end")
                + f"; it ends {above(self.longer_end(n))} the final models' dev mean"
                + (" (one seed, scored on the same rows)" if n in self.same_rows else
                   ", but it is one seed on other rows, so no direction can be read from it"
                   + (" (" + ", ".join(f"on {t}, where it is scored on the same rows, it ends "
                                       f"{above(self.longer_end(t))} them" for t in self.same_rows) + ")"
                      if self.same_rows else "")))  # fmt: skip
        if n in self.capitalised and self.uncased:
            shapes, (entity, other) = self.shapes, self.capitalised[n]
            reasons.append("the tokenizer lower-cases its input, while "
                           f"{entity:.0f}% of the dev entity words start with a capital against {other:.0f}% of the "
                           "others"
                           + (f"; a case feature given to the head (each word's shape, the encoder still uncased) "
                              f"moved dev F1 {worded(shapes[n])} in 3-seed runs of {self.shapes_settings['steps']:,d} "
                              f"steps, scored on all {self.shapes_settings['dev_rows'][n]:,d} sentences of the dev "
                              "file (scripts/training_levers.py), so a gain as large as the miss from that feature is "
                              + ("ruled out" if told_apart(shapes[n], self.short_by(n)) else "not ruled out")
                              if shapes and n in shapes else ": not measured here")
                           + "; not measured: training the embedding layer too (notebook 03 tested it on the two "
                           "sentence tasks only)")  # fmt: skip
        reasons.append(f"published: {PUBLISHED[n][0]:.1f}, {PUBLISHED[n][1]}" if n in PUBLISHED
                       else "no published single-task figure for an encoder of this size was found")  # fmt: skip
        head = (f"- **{REGISTRY[n].display}**, {self.test[n]['mean']:.2f} against {target:.1f}, short by "
                f"{self.short_by(n):.2f}:")  # fmt: skip
        return head + "".join(f"\n  - {r[:1].upper() + r[1:]}." for r in reasons)  # one measurement a line

    def miss_sentence(self, n):
        """A miss in one sentence, its answer first: whether sharing the encoder explains it, where the dev-to-test
        offset comes from, and what is left unmeasured (why_missed gives the figures). The dev score is not
        set against the target: the target is a test figure, and the splits differ for every model."""
        target, c, alone = REGISTRY[n].target, self.sharing[n], self.alone_at_offset(n)
        alone_words = (
            f"the task trained alone would {'also fall short' if alone < target else 'reach the target'}, "
            f"at an estimated {alone:.1f}"
        )
        if c["finding"] and c["difference"] < 0:
            cause = f"sharing the encoder costs it {worded(c, 1)} on dev"
        elif told_apart(c, -self.short_by(n)):
            cause = (
                f"sharing the encoder is ruled out as the whole cause ({alone_words}; a sharing cost as large as the "
                "miss is excluded by both the seed spread and the bootstrap)"
            )
        else:
            wide = ", as wide as the miss" if c["noise"] >= self.short_by(n) else ""
            cause = (
                f"sharing the encoder is not ruled out as the whole cause (joint minus alone {c['difference']:+.2f}, "
                f"noise ±{c['noise']:.2f}{wide}), though at the point estimates {alone_words}"
            )
        published = PUBLISHED.get(n)
        if published:  # beside the figure, not as its explanation: another checkpoint, another recipe
            cause += (f"; published: {published[0]:.1f}, {published[2]}"
                      + (f", {published[0] - alone:.1f} above the task alone's estimate" if alone < published[0]
                         else ""))  # fmt: skip
        unmeasured = [] if self.converged else [
            f"a budget shown to be converged ({self.epochs(n):.1f} epochs of its training rows in "
            f"{self.steps:,d} steps)"
        ]  # fmt: skip
        if n in self.capitalised and self.uncased:
            shapes = self.shapes and self.shapes.get(n)
            unmeasured.append(
                "a cased encoder"
                + (f" (a case feature given to the head moved dev F1 {worded(shapes, 1)} in shorter runs, "
                   + ("ruling out a gain as large as the miss from that feature"
                      if told_apart(shapes, self.short_by(n))
                      else "not ruling out a gain as large as the miss from that feature") + ")" if shapes else "")
            )  # fmt: skip
        return (f"**{REGISTRY[n].display}**, short by {self.short_by(n):.2f}: {cause}; {self.split_words(n)}"
                + (f"; not measured: {' or '.join(unmeasured)}" if unmeasured else "") + ".")  # fmt: skip

    def takeaway(self):
        """The first screen's first bullet: each target met or missed, and one sub-bullet a miss, its answer first."""
        unproven = "" if self.converged else " (a budget not shown to be converged: section 3)"
        at_budget = f"{self.steps:,d} steps{unproven}"
        return (f"Trained for {at_budget} and scored once on test, the joint model meets "
                f"{len(self.test) - len(self.missed())} of {len(self.test)} targets (the project's goals for the "
                "joint model): "
                # two decimals, so that a mean a hair above its target does not read as equal to it
                + ", ".join(f"{REGISTRY[n].display} {self.test[n]['mean']:.2f} against {REGISTRY[n].target:.1f} "
                            f"({self.met_words(n)})" for n in self.test)
                + ("; section 7 gives every measurement of each miss." if self.missed() else ".")
                + "".join(f"\n  - {self.miss_sentence(n)}" for n in self.missed()))  # fmt: skip

    def misses(self):
        """Section 7's list of misses, each with what was measured about it."""
        missed = self.missed()
        if not missed:
            return "Every target is met."
        return "Missed, with what was measured about each:\n\n" + "\n".join(map(self.why_missed, missed))

    def figures(self):
        """The JSON's record of each miss: the numbers its sentences quote."""
        return {n: {"dev": self.dev(n), "test": self.test[n]["mean"], "test_minus_dev": round(self.offset(n), 2),
                    "alone_dev": self.alone_dev(n),
                    "alone_at_offset": round(self.alone_at_offset(n), 2),
                    "sharing_cost_of_the_miss_ruled_out": told_apart(self.sharing[n], -self.short_by(n)),
                    "probe": (self.probe or {}).get(n)}
                for n in self.missed()}  # fmt: skip


def lr(rate):
    """A learning rate as people write it: 2e-4, 1.5e-4 (the digits it has, up to three)."""
    mantissa, exponent = f"{rate:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def setting(rates, key):
    """A (top rate, decay) setting of the rates figures: "chosen", "candidate" or "reference"."""
    return rates[key]["encoder_lr"], rates[key]["layer_decay"]


def comparison_row(figure, c):
    """A results row for a dev comparison: its difference, read against its verdict and noise."""
    return row(figure, c["difference"], "{:+.2f}", "dev", verdict(c), f"±{c['noise']:.2f}")


def below_reference(effect, n):
    """Where the candidate trails the reference: by how much, and whether the rule finds it."""
    return f"where it is {abs(effect[n]['difference']):.2f} below the reference ({verdict(effect[n])})"


def convergence_words(rates, convergence, grid_size, seeds):
    """Section 3's words on the long-budget pair: the setting chosen, whether the short grid's ranking carried over,
    and whether the budget is shown to converge; from the figures of `rates` and `convergence` (the notebook's
    JSON)."""
    steps, effect, kept = convergence["steps"], rates["candidate_minus_reference"], rates["grid_sign_kept"]
    chosen, candidate = setting(rates, "chosen"), setting(rates, "candidate")
    still, rising = convergence["reference_still_moving"], convergence["candidate_still_rising"]
    long_run, converged = convergence["long_run"], convergence["converged"]
    text = (f"Chosen: **top rate {lr(chosen[0])}, decay {chosen[1]:g}**: the candidate is "
            + ("better by a finding on some task and worse by a finding on none. " if chosen == candidate
               else "not better by the rule, so the reference stays. ")
            + (f"At {steps:,d} steps the candidate is within noise of the reference on every task (their mean dev "
               f"scores {abs(rates['mean_dev_lead']):.2f} apart), so the grid's one-seed lead for it is not "
               f"confirmed; only these two of its {grid_size} settings were trained long. "
               if not any(c["finding"] for c in effect.values()) else
               f"From the short grid to {steps:,d} steps, the setting with the higher mean dev score is "
               + ("the same" if rates["grid_winner_kept"] else "not the same")
               + f", and the candidate's difference keeps its sign on {len(kept)} of {len(effect)} tasks "
               f"({', '.join(kept) or 'none'}). ")
            + (f"The reference still moves between its last two evaluations on {', '.join(still)} (beyond seed "
               "noise)." if still else "The reference's last two evaluations are within seed noise on every "
               "task."))  # fmt: skip
    if rising:
        text += (" The candidate was still gaining between its last two evaluations on "
                 + "; ".join(f"{n} ({rising[n]['difference']:+.2f}, beyond seed noise), {below_reference(effect, n)}"
                             for n in rising) + ": a longer budget might close that gap.")  # fmt: skip
    if long_run:
        s, stops = long_run["settings"], long_run["stops_at"]
        tolerance = {n: 2 * rates["pooled_seed_std"][n] for n in stops}  # the plateau depends on it: it is shown
        short = [f"{n} (step {stops[n]:,d})" for n in stops if stops[n] and stops[n] > steps]
        never = [n for n in stops if not stops[n]]  # still moving at the long run's end
        text += (f" A longer run (top rate {lr(s['encoder_lr'])}, decay {s['layer_decay']:g}, {s['steps']:,d} steps, "
                 "one seed, the whole dev splits) stops moving, no later evaluation beyond twice one run's seed std: "
                 + ", ".join((f"{n} at step {at:,d}" if at else f"{n} never within the run")
                             + f" (tolerance ±{tolerance[n]:.2f})" for n, at in stops.items())
                 + "; "
                 + (f"{steps:,d} steps is short of where it stops on {' and '.join(short)}" if short else "")
                 + ("; " if short and never else "")
                 + (f"it never stops on {' and '.join(never)}" if never else "")
                 + ("." if short or never else f"{steps:,d} steps is past each."))  # fmt: skip
    text += f" So {steps:,d} steps is {'' if converged else 'not '}shown to be a converged budget."
    if not converged:
        pair = convergence["pair_minutes"]
        stops = (long_run or {}).get("stops_at", {})
        last = max([at for at in stops.values() if at], default=0)
        text += (f" No longer budget was trained with {seeds} seeds: this pair took {pair:.0f} minutes of training "
                 "here"
                 + (f"; trained to the longer run's last plateau (step {last:,d}) it would take about "
                    f"{pair * last / steps:.0f} minutes"
                    + (", at least (the longer run never stops on "
                       + " and ".join(n for n, at in stops.items() if not at) + ")"
                       if not all(stops.values()) else "") if last > steps else "")
                 + ", and the runs alone of sections 4 and 5 get the updates of its runs, so a longer budget "
                 "lengthens them too (the closing table gives each part's minutes of training).")  # fmt: skip
    return text


def rates_takeaways(figures):
    """The first screen's bullets on the rates, on whether multi-task training changes them, and on sharing the
    encoder, built from the figures notebook 04 writes to its JSON."""
    rates, both, shared = figures["rates"], figures["multi_task_and_rates"], figures["sharing"]
    steps, tasks, effect = figures["convergence"]["steps"], list(figures["tasks"]), rates["candidate_minus_reference"]
    chosen, candidate, reference = (setting(rates, k) for k in ("chosen", "candidate", "reference"))
    rising = figures["convergence"]["candidate_still_rising"]  # where the candidate trails but had not stopped gaining
    moved, alone = both["tasks"], both["alone_candidate_minus_reference"]
    same = [n for n in moved if both["alone_vs_jointly"][n] != "a different verdict"]
    mostly = both["decay_moved_most_at"]  # the top rate where the decay moved those tasks most, if mainly there
    notes = []
    if mostly:
        used = mostly in (candidate[0], reference[0])
        notes.append(f"mainly at top rate {lr(mostly)}" + ("" if used else ", which neither compared setting uses"))
    if candidate[0] != reference[0]:
        notes.append("the candidate also changes the top rate")
    by_rate = f" ({'; '.join(notes)})" if notes else ""
    lever, costs = shared["lever_minus_joint"], shared["costs"]
    unproven = "" if figures["convergence"]["converged"] else " (a budget not shown to be converged: section 3)"

    return [
        f"Rates: the top encoder layer at {lr(chosen[0])}, " + ("every layer at that one rate" if chosen[1] == 1 else
        f"each layer below at {chosen[1]:g} times the one above") + f", every head ({', '.join(tasks)}) at "
        f"{lr(next(iter(rates['head_lrs'].values())))} (fixed, not searched). The grid's "
        + ("top-ranked" if rates["candidate_ranked_first"] else "best non-reference")
        + f" setting (top rate {lr(candidate[0])}, decay {candidate[1]:g}) " + (f"beat the uniform reference at "
        f"{steps:,d} steps{unproven} by the noise rule and lost by a finding on no task." if chosen == candidate else
        f"was not better than the uniform reference at {steps:,d} steps{unproven} by the noise rule, so "
        + ("the simpler one rate stays." if candidate[1] != 1 else "the reference stays.")
        + (" It was still gaining at its last evaluation on "
           + "; ".join(f"{n}, {below_reference(effect, n)}" for n in rising)
           + "." if rising else "")),
        (f"Alone or jointly, the two rate settings are within noise of each other on {' and '.join(moved)}, the tasks "
         f"the decay moved most in the short grid{by_rate}, so these runs cannot tell whether multi-task training "
         "changes the choice" if all(not alone[n]["finding"] and not effect[n]["finding"] for n in moved) else
         f"Multi-task training {'does not change' if len(same) == len(moved) else 'changes'} how the two rate "
         f"settings compare on {' and '.join(moved)}, the tasks the decay moved most in the short grid{by_rate}")
        + ("" if both["beyond_noise"] else " (the grid's range is within the long runs' seed noise, a rough scale for "
           "one-seed figures)") + f": candidate minus reference, alone {per_task(alone, 1)}; jointly "
        + per_task({n: effect[n] for n in moved}, 1) + ".",
        f"Sharing the encoder, joint minus each task trained alone for the updates it had in the {steps:,d}-step "
        f"joint runs (the runs alone keep no dev curve: their convergence is not checked): "
        f"{per_task(shared['joint_minus_alone'], 1)}. "
        + (f"Weighting the loss of {' and '.join(costs)} by {shared['loss_weight']:g}: {per_task(lever, 1)} against "
           "the joint model; " + ("kept." if shared["kept"] else "not kept.") if lever else "No task pays for sharing "
           "by a finding, so no loss weight was changed to win it back."),
    ]  # fmt: skip


def dev_source(n, train, dev_file, drawn):
    """Where a task's dev split comes from (mtl/tasks.py), in words: rows carved from the training file, or the
    dataset's dev file with the sentences it repeats word for word from training counted (`train`, `dev_file` and
    the rows `drawn` from it: (inputs, labels) each)."""
    dev, test = REGISTRY[n].dev, REGISTRY[n].test
    if not isinstance(dev, Carve):
        seen = {str(x) for x in train[0]}  # to find the dev rows repeated word for word from training
        again = [x for x in dev_file[0] if str(x) in seen]
        if any(str(x) in seen for x in drawn[0]):
            raise ValueError(f"{n}: the dev rows drawn repeat training rows; draw them from the unseen ones")
        return (f"`{n}` the dataset's {dev} file as published, less the {len(again):,d} of its "
                f"{len(dev_file[0]):,d} sentences that also occur word for word in training "
                f"({sum(len(x) <= 4 for x in again):,d} of them four words or fewer), so that dev shares no sentence "
                f"with training: {len(drawn[0]):,d} of the other {len(dev_file[0]) - len(again):,d} "
                "drawn")  # fmt: skip
    return (f"`{n}` {dev.rows:,d} rows carved from the training file, every training row "
            + ("inside one of them" if dev.whole else "equal to one of them") + " dropped"
            + (" (its dataset's test labels are not public, so its own dev file is the reported figure)"
               if test == "dev" else ""))  # fmt: skip


def headline_rows(figures):
    """The rows the first screen shows: each task's final test score and its probe, the rates chosen, the budget."""
    tasks, rates = figures["tasks"], figures["rates"]
    sizes, seeds = figures["settings"]["train_sizes"], len(figures["settings"]["seeds"])
    chosen, candidate, reference = (setting(rates, k) for k in ("chosen", "candidate", "reference"))
    other = candidate if chosen != candidate else reference  # what the choice was made against
    lines = [row(f"joint model, mean ± std over {seeds} seeds: {REGISTRY[n].display}", spread(t["final"], 2), "{}",
                 "test", "target", f"{t['target']:.1f}") for n, t in tasks.items()]  # fmt: skip
    lines += [row(f"frozen-encoder probe: {REGISTRY[n].display}"
                  + (f" (fitted on {t['linear_probe_rows']:,d} of {sizes[n]:,d} training rows)"
                     if t["linear_probe_rows"] < sizes[n] else ""),
                  t["linear_probe"], "{:.2f}", "test") for n, t in tasks.items()]  # fmt: skip
    lines += [row("encoder rates chosen on dev (top rate, layer decay)",
                  f"top rate {lr(chosen[0])}, decay {chosen[1]:g}", "{}", "dev",
                  "the grid's candidate, not better by the rule" if other == candidate
                  else "the reference, which the candidate beat by the rule",
                  f"top rate {lr(other[0])}, decay {other[1]:g}"),
              row("steps per joint training run (the long budget)", figures["convergence"]["steps"], "{:,d}",
                  None)]  # fmt: skip
    return lines


def rows(figures):
    """The report's lines for the README and RESULTS tables (`mtl.report.row`), from the figures notebook 04 writes to
    its JSON: the headline rows, then each dev comparison."""
    shared = figures["sharing"]
    compared = {"joint minus alone with the same updates": shared["joint_minus_alone"],
                "Viterbi minus argmax tags": figures["ner_decoding"]["viterbi_minus_argmax"]}  # fmt: skip
    lever = shared["lever_minus_joint"]  # the loss-weight lever against the joint model, where one was trained
    if lever:
        compared[f"{' and '.join(shared['costs'])} loss x{shared['loss_weight']:g} minus joint"] = lever
    return headline_rows(figures) + [comparison_row(f"{n} dev, {what}", c) for what, comparison in compared.items()
                    for n, c in comparison.items()]  # fmt: skip
