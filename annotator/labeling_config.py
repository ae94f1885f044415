"""The Label Studio labelling interface for artifact campaigns, built from the taxonomy."""

from xml.sax.saxutils import quoteattr

from annotator.converter import (
    BOX_FROM,
    CAPTION_FROM,
    CHOICE_FROM,
    IMAGE_TO,
    MASK_FROM,
    MASK_LABEL,
    NO_ARTIFACTS_CHOICE,
)

# Distinct colours so neighbouring classes are told apart in the UI.
_PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
            "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#800000", "#aaffc3", "#808000"]


def labeling_config(classes: list[tuple[str, str]]) -> str:
    """`classes`: (name, one-line definition) pairs, shown as rectangle labels with the definition as hint."""
    labels = "\n".join(
        f"    <Label value={quoteattr(name)} hint={quoteattr(definition)}"
        f" background={quoteattr(_PALETTE[i % len(_PALETTE)])}/>"
        for i, (name, definition) in enumerate(classes)
    )
    return f"""<View>
  <Image name="{IMAGE_TO}" value="$image" zoom="true" zoomControl="true"/>
  <Header value="Whole image"/>
  <Choices name="{CHOICE_FROM}" toName="{IMAGE_TO}" choice="single" showInline="true">
    <Choice value={quoteattr(NO_ARTIFACTS_CHOICE)}/>
  </Choices>
  <Header value="Paint every artifact"/>
  <BrushLabels name="{MASK_FROM}" toName="{IMAGE_TO}">
    <Label value={quoteattr(MASK_LABEL)} background="#ff0000"/>
  </BrushLabels>
  <Header value="Box each artifact, pick its class, describe it"/>
  <RectangleLabels name="{BOX_FROM}" toName="{IMAGE_TO}">
{labels}
  </RectangleLabels>
  <TextArea name="{CAPTION_FROM}" toName="{IMAGE_TO}" perRegion="true" editable="true" maxSubmissions="1"
            placeholder="Describe this artifact"/>
</View>
"""
