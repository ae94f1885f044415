import factory

from backend.images.models import Generator, SynthesisTask
from backend.images.services import IngestItem, image_ingest


class GeneratorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Generator

    name = factory.Sequence(lambda n: f"gen-{n}")
    version = "1.0"
    family = Generator.Family.DIFFUSION


def make_image(*, data: bytes, generator=None, task_slug: str = "text_to_image", **fields):
    """Ingest through the real service so images always have their blob."""
    generator = generator or GeneratorFactory()
    task = SynthesisTask.objects.get(slug=task_slug)
    return image_ingest(item=IngestItem(name="test.png", data=data, **fields), generator=generator, task=task).image


def left_half_torchscript(path):
    """Save a stand-in for PAL4VST's TorchScript `end2end.pt` (512x512 in, argmax labels out) that marks the
    left half of every image as artifact — exactly right on left-half labels, whatever the image."""
    import torch

    class LeftHalfAt512(torch.nn.Module):
        def forward(self, x):
            labels = torch.zeros(x.shape[0], 1, 512, 512, dtype=torch.long)
            labels[..., :256] = 1
            return labels

    torch.jit.script(LeftHalfAt512()).save(str(path))
    return path
