"""The classic supervised reference: TF-IDF character n-grams + logistic regression, one model per task. The
baseline scores it on a split; the teacher's consistency check asks it for a second opinion."""

from __future__ import annotations

from typing import Sequence

from mentalglm.config.evaluate import BaselineSection
from mentalglm.tasks import TASKS


class LabelModel:
    """TF-IDF character n-grams + logistic regression for one task, fitted on texts with gold labels; picklable.

    Multi-label: one-vs-rest; a text with no label above 0.5 gets its single most likely label (every post in the
    data carries at least one). A label absent from the training texts cannot be predicted.
    """

    def __init__(self, task: str, texts: Sequence[str], labels: Sequence[Sequence[str]], settings: BaselineSection):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        b = settings
        self.multi_label = TASKS[task].multi_label
        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(b.ngram_min, b.ngram_max),
                                   max_features=b.max_features, sublinear_tf=True)
        x = self.vec.fit_transform(list(texts))
        make_lr = lambda: LogisticRegression(C=b.C, max_iter=2000, class_weight=b.class_weight)  # noqa: E731
        self.constant: str | None = None
        if self.multi_label:
            mlb = MultiLabelBinarizer(classes=list(TASKS[task].labels))
            y = mlb.fit_transform([list(x) for x in labels])
            present = y.sum(axis=0) > 0
            self.clf = OneVsRestClassifier(make_lr()).fit(x, y[:, present])
            self.names = [lab for lab, keep in zip(mlb.classes_, present) if keep]
            return
        y = [lab[0] for lab in labels]
        if len(set(y)) < 2:
            self.constant = y[0]
        else:
            self.clf = make_lr().fit(x, y)

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """The predicted label list of each text."""
        if self.constant is not None:
            return [[self.constant] for _ in texts]
        x = self.vec.transform(list(texts))
        if self.multi_label:
            return [[self.names[j] for j in range(len(self.names)) if row[j] >= 0.5] or [self.names[int(row.argmax())]]
                    for row in self.clf.predict_proba(x)]
        return [[label] for label in self.clf.predict(x)]
