"""Experiment 1: how long is one ITC training step of a tiny open_clip ModifiedResNet on
2 shared CPU cores, by image size / width / batch? Sets the demo's step budget."""
import sys, time
import torch, open_clip

torch.set_num_threads(2)
torch.manual_seed(0)

def cfg(width, size, layers=(1, 1, 1, 1), tw=64, tl=2, embed=64):
    return dict(embed_dim=embed, vision_cfg=dict(image_size=size, layers=list(layers), width=width),
                text_cfg=dict(context_length=16, vocab_size=49408, width=tw, heads=4, layers=tl))

for width, size, batch in [(32, 64, 128), (32, 48, 128), (32, 32, 128), (16, 64, 128), (32, 64, 64)]:
    model = open_clip.model.CLIP(**cfg(width, size))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, size, size)
    t = torch.randint(1, 400, (batch, 16))
    times = []
    for i in range(6):
        t0 = time.perf_counter()
        img, txt, scale = model(x, t)
        logits = scale * img @ txt.T
        lab = torch.arange(batch)
        loss = (torch.nn.functional.cross_entropy(logits, lab) + torch.nn.functional.cross_entropy(logits.T, lab)) / 2
        opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - t0)
    nparam = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"width={width} size={size} batch={batch} params={nparam:.2f}M step={sorted(times[1:])[2]*1000:.0f} ms", flush=True)
