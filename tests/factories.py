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


def tiny_torchscript(path, *, output: str = "logits", seed: int = 0):
    """Save a tiny scripted segmenter, as an imported TorchScript model would be: one 3x3 conv to 2 classes whose
    forward returns the logits (N, 2, H, W) float (`output="logits"`), their argmax (N, H, W) int64 (`"argmax"`),
    or (logits, pooled N x 2 features) (`"features"`). Its seeded weights are not mirror-symmetric, so flipped
    inputs get answers that differ from the flipped answer."""
    import torch

    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(3, 2, kernel_size=3, padding=1)

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x)

    class Argmax(Logits):
        def forward(self, x):
            return self.conv(x).argmax(dim=1)

    class WithFeatures(Logits):
        def forward(self, x):
            logits = self.conv(x)
            return logits, logits.mean(dim=(2, 3))

    module = {"logits": Logits, "argmax": Argmax, "features": WithFeatures}[output]()
    torch.jit.script(module).save(str(path))
    return path
