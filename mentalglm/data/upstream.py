"""The public sources MentalGLM trains and evaluates on, pinned: each upstream file by repository, commit, path,
size and SHA-256, with the name it gets in the raw-data folder (`mentalglm data fetch` writes it there).

Two users who fetch get byte-identical files, or an error naming the file that differs. Local names follow the
layout of the project's data mirrors (so `--from` a mirror finds its files), whatever the upstream file is called. A raw file is served by
GitHub at `https://raw.githubusercontent.com/{repository}/{commit}/{path}`, byte for byte (CRLF line ends included
where the file has them).
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_URL = "https://raw.githubusercontent.com/{repository}/{commit}/{path}"
EFFICACY = ("HongzhiQ/SupervisedVsLLM-EfficacyEval", "fa3665d36af4dd5a518040d65a7c9186f8d1428d")
RSLF = ("HongzhiQ/RSLF-Framework-and-SOS4K-Dataset", "ba5c0c0a11bf16c6f6854f5180bfbbd2c9f775e3")
MENTALLLAMA = ("SteveKGYang/MentalLLaMA", "42cd29dfb91092843daae53ec162c75605d753ff")


@dataclass(frozen=True)
class UpstreamFile:
    """One pinned upstream file and its name in the raw-data folder (`local`)."""

    repository: str
    commit: str
    path: str
    size: int
    sha256: str
    role: str
    local: str
    split: str

    @property
    def url(self) -> str:
        """Where GitHub serves the file at its pinned commit."""
        return RAW_URL.format(repository=self.repository, commit=self.commit, path=self.path)


def _file(source: tuple[str, str], path: str, size: int, sha256: str, role: str, local: str,
          split: str) -> UpstreamFile:
    return UpstreamFile(source[0], source[1], path, size, sha256, role, local, split)


MANIFEST: tuple[UpstreamFile, ...] = (
    _file(EFFICACY, "data/SocialCD-3k/train_data_with_header.tsv", 400_396,
          "aef6f45a409bd732763748ef96a10ca311c9c40d1b49008b1d09fcdecd6c1e3e", "SocialCD-3K train",
          "socialcd3k/train.tsv", "train"),
    _file(EFFICACY, "data/SocialCD-3k/test_data_with_header.tsv", 100_617,
          "c7b971952f35c728dd401a2f0cff03dd37bec6ae5cf0f4ad58faaff15ea554fd", "SocialCD-3K test",
          "socialcd3k/test.tsv", "test"),
    _file(EFFICACY, "data/suicide/suicide_train_LLM.csv", 145_657,
          "ffd786191b5cd861acd138e83d101b364272a1ae9ecad3105ac9a87a42623e86", "SOS-HL-1K train",
          "sos_hl_1k/train.tsv", "train"),
    _file(EFFICACY, "data/suicide/suicide_val_LLM.csv", 34_105,
          "6c74bf5955515d3bb994abf6d8fa146b5411c6b39d0ee35397ab68838021b7fe",
          "SOS-HL-1K test (the published evaluation split)", "sos_hl_1k/test.tsv", "test"),
    _file(EFFICACY, "data/suicide/suicide_train.jsonl", 429_457,
          "2a45b2a54f44d5e017c591e77952d62594b727c3cc803cf6aa0f175c65a3f878", "SOS-HL-1K train, OpenAI chat format",
          "sos_hl_1k/train.chat.jsonl", "train"),
    _file(EFFICACY, "data/suicide/suicide_val.jsonl", 105_836,
          "3c0de914ee0cb6e9a539f681cd3f06024f7834f293d8df7174b3d5d01396853b", "SOS-HL-1K test, OpenAI chat format",
          "sos_hl_1k/test.chat.jsonl", "test"),
    _file(RSLF, "data_final/data/train_data_withExplainFewShot.tsv", 2_117_972,
          "d202fc80e42d87a7afe9f8e1931b781d0b0f9539cafadd7e422a7d92b2348496", "SOS-4K train",
          "sos_4k/train.tsv", "train"),
    _file(RSLF, "data_final/data/val_data_withExplainFewShot.tsv", 589_143,
          "e41dfa04b8cba0c24a60ffd929f70603f1533ee59b6cc2625085087cd7da3d36", "SOS-4K val", "sos_4k/val.tsv", "val"),
    _file(RSLF, "data_final/data/test_data_withExplainFewShot.tsv", 665_466,
          "2c1c3d822c8122c40af1f485c0472e2c205a1613ea6cf9ca2ec6ff9351a7526a", "SOS-4K test", "sos_4k/test.tsv",
          "test"),
    _file(MENTALLLAMA, "train_data/instruction_data/DR/train.csv", 1_798_690,
          "1119103ea799f24825ab3cc54260bfcd8cd04d11df692aa9c3e26e358a68d5db", "IMHI DR train", "imhi/DR/train.csv",
          "train"),
    _file(MENTALLLAMA, "train_data/instruction_data/dreaddit/train.csv", 2_982_271,
          "d621606ac0caec010f7c2142f0ec2e737bdcd24c26fa7c290347881aa91dde94", "IMHI dreaddit train",
          "imhi/dreaddit/train.csv", "train"),
    _file(MENTALLLAMA, "train_data/instruction_data/SAD/train.csv", 3_223_814,
          "5431cd46b038fd03af309bd7120a90355a500c58aad7864a2e7db932e55a5fc3", "IMHI SAD train",
          "imhi/SAD/train.csv", "train"),
    _file(MENTALLLAMA, "train_data/instruction_data/DR/val.csv", 763_455,
          "4d07e5e7d0f301147b222defaa28dd4016d9a25704b6f3f8d463a776ab4334d3", "IMHI DR val", "imhi/DR/val.csv",
          "val"),
)

# What SOURCES.md says about each repository: the terms it is published under and what to cite.
TERMS: dict[str, tuple[str, str]] = {
    EFFICACY[0]: ("No licence file in the repository: research use only; do not redistribute the posts.",
                  "Qi et al., Supervised Learning and Large Language Model Benchmarks on Mental Health Datasets: "
                  "Cognitive Distortions and Suicidal Risks in Chinese Social Media (SocialCD-3K, SOS-HL-1K)."),
    RSLF[0]: ("No licence file in the repository: research use only; do not redistribute the posts.",
              "Qi et al., SOS-1K / SOS-4K: suicide risk levels with explanations on Chinese social media "
              "(RSLF framework)."),
    MENTALLLAMA[0]: ("MIT licence (the repository's LICENSE).",
                     "Yang et al., MentalLLaMA: Interpretable Mental Health Analysis on Social Media with Large "
                     "Language Models (IMHI)."),
}
