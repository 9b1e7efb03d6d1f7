"""Expert ratings of explanations: a blinded rating set out (`export`: Label Studio project and CSV), ratings back in
(`readers`: Label Studio JSON, rater CSVs, MentalLLaMA's released files), and what they say (`agreement`: means with
bootstrap intervals, Krippendorff's alpha, raw agreement, Gwet's AC1, Spearman against automatic metrics; `report`).
The criteria and their 0-3 rubric are in `rubric`."""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('export', 'report')
