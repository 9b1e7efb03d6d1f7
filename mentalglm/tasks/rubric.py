"""The four criteria raters (and the LLM judge) score an explanation on, 0-3, with the written rubric
(MentalLLaMA's human evaluation: fluency, completeness, reliability, overall)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

CRITERIA = ("fluency", "completeness", "reliability", "overall")
SCORES = (0, 1, 2, 3)

RUBRIC: dict[str, dict[str, str]] = {
    "fluency": {"name": "流畅性 Fluency", "question": "解释是否通顺、连贯、易读？",
                "0": "无法读懂或大量重复", "1": "能读懂但有明显语病或不连贯",
                "2": "基本通顺，偶有小问题", "3": "通顺连贯，表达自然"},
    "completeness": {"name": "完整性 Completeness", "question": "解释是否说明了判断的全部依据？",
                     "0": "没有给出依据", "1": "只给出很少或无关的依据",
                     "2": "给出主要依据，但有遗漏", "3": "完整给出支撑标签的依据"},
    "reliability": {"name": "可靠性 Reliability", "question": "解释是否忠于帖子、符合专业知识，没有编造？",
                    "0": "编造内容或与帖子矛盾", "1": "多处不准确或缺乏专业依据",
                    "2": "基本可靠，有少量不准确", "3": "完全忠于帖子且符合专业知识"},
    "overall": {"name": "总体 Overall", "question": "作为对该标签的解释，总体质量如何？",
                "0": "不可用", "1": "较差", "2": "较好", "3": "很好，可直接用于临床参考"},
}


def rubric_text(criterion: str) -> str:
    """One criterion's question and the meaning of each score, on one line."""
    r = RUBRIC[criterion]
    return f"{r['name']}：{r['question']} " + "；".join(f"{s} = {r[str(s)]}" for s in SCORES)


def labelstudio_config() -> str:
    """The Label Studio labeling config: the post, the predicted label, the explanation, and one required single
    choice 0-3 per criterion with its rubric."""
    lines = ["<View>", '  <Header value="帖子 Post"/>', '  <Text name="post" value="$post"/>',
             '  <Header value="任务与预测标签 Task and predicted label"/>', '  <Text name="label" value="$label"/>',
             '  <Header value="解释 Explanation"/>', '  <Text name="explanation" value="$explanation"/>']
    for criterion in CRITERIA:
        lines.append(f"  <Header value={quoteattr(rubric_text(criterion))}/>")
        lines.append(f'  <Choices name="{criterion}" toName="explanation" choice="single" required="true" '
                     'showInline="true">')
        lines += [f'    <Choice value="{s}"/>' for s in SCORES]
        lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"
