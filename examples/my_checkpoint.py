"""Put SE into a ResNet you built yourself, check the arithmetic, save it and load it back.

    python examples/my_checkpoint.py
"""

import torch
import torchvision

import seprof

base = torchvision.models.resnet34(num_classes=10)  # your model; load your weights here with
# base.load_state_dict(torch.load("weights.pt", weights_only=True))

se = seprof.inject(base, r=16, stages=[3, 4, 5])
added = sum(p.numel() for p in se.parameters()) - sum(p.numel() for p in base.parameters())
channels = [site.channels for site in seprof.find_sites(base, (3, 224, 224)).select([3, 4, 5])]
assert added == seprof.exact_params(channels, 16)
print(f"SE adds {added:,} parameters; the paper's formula says {float(seprof.paper_params(channels, 16)):,.0f}")

seprof.save("se_resnet34.pt", se, name="resnet34", r=16, bias=True, stages=[3, 4, 5], input_shape=(3, 224, 224))
again = seprof.load("se_resnet34.pt", base=base)
x = torch.randn(1, 3, 224, 224)
with torch.no_grad():
    assert torch.equal(se.eval()(x), again.eval()(x))
print("saved and reloaded se_resnet34.pt")
