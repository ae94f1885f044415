"""The VLM question-answer template now lives in `ml.vlm.template` (it owns the text *and* the parser of model
outputs, and `ml/` may not import `datasets/`); this module re-exports it for the exporters."""

from ml.vlm.template import (  # noqa: F401
    LINE_FORMAT,
    NONE,
    QUESTION_LEAD,
    answer,
    answer_line,
    code_key,
    int_box,
    one_line,
    parse_answer,
    question,
)
