"""Loss benchmark: time per call (forward + backward) of the SSL self-similarity loss and of perceptual losses on a
training batch of 16x3x128x128 GT crops on the CPU, and SSL's peak memory.

Cases
- SSL (fsr.losses.SSLLoss, defaults: 25x25 window, 9x9 patches, chunks of 1024 masked pixels, recomputed in backward)
  on 16 native-resolution 128x128 crops of the face set with their own edge masks. Baseline, measured in the same run
  on the same 256 masked pixels of one crop: a re-implementation of the released code's PyTorch path, which unfolds
  every 9x9 patch of every 25x25 window at once (0.6 MB per masked pixel; the whole batch would need N x 0.6 MB).
  Both compute the same loss (checked), the ratio compares seconds per masked pixel.
- SSL peak memory for the whole batch, in a fresh process: the high-water mark of the resident set (VmHWM, reset
  just before the call) above the resident set before the call; next to it fsr's analytic estimate and what the
  released path's patch tensor alone would take for the same pixels.
- Perceptual loss, `squeeze` preset (real SqueezeNet 1.1 ImageNet weights from data/weights), against LPIPS-squeeze
  used as a loss on the same batch (the same backbone, so the ratio shows the cost of LPIPS's normalisation and heads).
- Perceptual loss, VGG19 presets `realesrgan` and `srgan_vgg54` with RANDOM weights (ImageNet VGG19 weights were not
  available where the committed rows were measured): the
  time is that of the architecture and says nothing about the loss's quality; baseline: the squeeze preset.
Times are the minimum over interleaved rounds (noise from other processes only ever adds time; the load average is
recorded at the start and the end), each a full loss call (forward incl. the target's features/rows, and backward), as in training.
Needs the real faces (data/faces/512). Writes nbs/results/benchmarks/losses.csv.  Usage: python nbs/benchmarks/losses.py [--threads 2] [--rounds 3]
"""
import argparse, datetime, json, os, platform, subprocess, sys, time, warnings
from pathlib import Path
import torch, torch.nn.functional as F
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'results'/'benchmarks'/'losses.csv'

from fsr.experiments import cpu_name, require_real_data


def gt_batch(n=16, size=128, seed=0):
    "n native-resolution size x size crops of the face set (random positions inside the central half of each face)."
    from fsr.core import load_image
    from fsr.data import dataset_dir, find_images
    files = find_images(dataset_dir('faces'))
    g = torch.Generator().manual_seed(seed)
    crops = []
    for i in range(n):
        img = load_image(files[i % len(files)])
        h, w = img.shape[-2:]
        y = int(torch.randint(h // 4, max(h // 4 + 1, 3 * h // 4 - size), (1,), generator=g))
        x = int(torch.randint(w // 4, max(w // 4 + 1, 3 * w // 4 - size), (1,), generator=g))
        crops.append(img[:, y:y + size, x:x + size])
    return torch.stack(crops).contiguous()

def fake_sr(gt, seed=1):
    "A stand-in network output: the GT slightly blurred and noisy."
    from torchvision.transforms.functional import gaussian_blur
    g = torch.Generator().manual_seed(seed)
    return (gaussian_blur(gt, 5, 1.0) + 0.02 * torch.randn(gt.shape, generator=g)).clamp(0, 1)

# ---- the released code's PyTorch path, re-implemented (unfold everything at once) ----
def unfold_rows(img, ys, xs, ks=25, kw=9, h=0.004):
    "Similarity rows of pixels (ys, xs) of one 1xCxHxW image, by unfolding all patches of all windows (0.6 MB/pixel)."
    c, p = img.shape[1], ks // 2
    win = F.unfold(F.pad(img, (p, p, p, p), mode='reflect'), ks)  # (1, C*ks*ks, H*W)
    win = win[:, :, ys * img.shape[-1] + xs]  # (1, C*ks*ks, M)
    m = win.shape[-1]
    win = win.reshape(c, ks * ks, m).permute(0, 2, 1).reshape(1, c * m, ks, ks)
    patches = F.unfold(win, kw, padding=kw // 2).reshape(c, m, kw * kw, ks * ks).permute(1, 0, 2, 3).reshape(m, c * kw * kw, ks * ks)
    d = (patches - patches[:, :, (ks * ks) // 2:(ks * ks) // 2 + 1]).pow(2).sum(1) / (c * kw * kw)
    s = torch.exp(-d / h)
    return s / (s.sum(-1, keepdim=True) + 1e-10)

def unfold_loss(sr, gt, ys, xs):
    s = unfold_rows(sr, ys, xs)
    with torch.no_grad(): t = unfold_rows(gt, ys, xs)
    tc = t.clamp_min(1e-10)
    return 1e3 * ((tc * (tc.log() - s.clamp_min(1e-10).log())).mean() + (s - t).abs().mean())

PEAK_PROBE = r'''
import json, re, sys, psutil, torch
sys.path.insert(0, sys.argv[1])
from losses import gt_batch, fake_sr
from fsr.losses import SSLLoss, edge_mask, ssl_memory_bound
torch.set_num_threads(int(sys.argv[2]))
gt = gt_batch(); sr = fake_sr(gt).requires_grad_()
few = torch.zeros(1, 1, 32, 32, dtype=torch.bool); few[..., 10:12, 10:12] = True
SSLLoss()(gt[:1, :, :32, :32].clone().requires_grad_(), gt[:1, :, :32, :32], few).backward()  # one-time set-up
with open('/proc/self/clear_refs', 'w') as f: f.write('5')
base = psutil.Process().memory_info().rss
SSLLoss()(sr, gt).backward()
hwm = int(re.search(r'VmHWM:\s+(\d+) kB', open('/proc/self/status').read()).group(1)) * 1024
n = int(edge_mask(gt).sum())
print(json.dumps(dict(delta=hwm - base, n_masked=n, estimate=ssl_memory_bound(n, 16, 3, 128, 128))))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    require_real_data(('faces',), OUT)
    torch.set_num_threads(args.threads)
    warnings.simplefilter('ignore')
    from fsr.losses import SSLLoss, LPIPSLoss, edge_mask, perceptual_loss
    from fsr.pretrained import find_weights
    meta = dict(device='cpu', cpu=cpu_name(), threads=args.threads, torch=torch.__version__,
                date=datetime.datetime.now().isoformat(timespec='seconds'), load_avg=round(os.getloadavg()[0], 2))
    print(f"torch {meta['torch']}, {args.threads} threads, {meta['cpu']}, load average {meta['load_avg']}")
    gt = gt_batch(); sr0 = fake_sr(gt)
    mask = edge_mask(gt)
    n_masked = int(mask.sum())

    # the cases, each a closure doing one forward + backward
    def ssl_call(k=16):
        sr = sr0[:k].clone().requires_grad_(); SSLLoss()(sr, gt[:k], mask[:k]).backward()
    _, _, ys, xs = mask[:1].nonzero(as_tuple=True)  # 256 masked pixels of crop 0, spread over its mask
    sel = torch.linspace(0, len(ys) - 1, 256).round().long()
    ys, xs = ys[sel], xs[sel]
    sub = torch.zeros_like(mask[:1]); sub[0, 0, ys, xs] = True
    def fsr_sub():
        sr = sr0[:1].clone().requires_grad_(); v = SSLLoss()(sr, gt[:1], sub); v.backward(); return v
    def unfold_sub():
        sr = sr0[:1].clone().requires_grad_(); v = unfold_loss(sr, gt[:1], ys, xs); v.backward(); return v
    def percep_call(loss):
        def f():
            sr = sr0.clone().requires_grad_(); loss(sr, gt).backward()
        return f
    cases = {'ssl_sub': fsr_sub, 'unfold_sub': unfold_sub, 'ssl_batch': ssl_call}
    have_sq = find_weights('squeezenet1_1') is not None
    if have_sq: cases.update(squeeze=percep_call(perceptual_loss('squeeze')), lpips_squeeze=percep_call(LPIPSLoss(net='squeeze')))
    else: print('SqueezeNet weights missing: squeeze preset skipped')
    for preset in ('realesrgan', 'srgan_vgg54'):
        torch.manual_seed(0); cases[preset] = percep_call(perceptual_loss(preset, pretrained=False))

    agree = abs(fsr_sub().item() - unfold_sub().item())
    for name, fn in cases.items():  # warm-up (the SSL batch on one crop only)
        (lambda: ssl_call(1))() if name == 'ssl_batch' else fn()
    times = {k: [] for k in cases}
    for r in range(args.rounds):  # interleaved, so that a noisy neighbour hurts every case alike
        for name, fn in cases.items():
            t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
        print(f'round {r + 1}:', {k: round(v[-1], 3) for k, v in times.items()})
    best = {k: min(v) for k, v in times.items()}

    rows = []
    def add(**kw): rows.append({**kw, **meta}); print({k: v for k, v in kw.items() if k != 'note'})
    per_px = best['unfold_sub'] / 256
    add(case='ssl_per_pixel', weights='none needed', batch='256 masked pixels of one 128x128 crop',
        seconds_per_call=round(best['ssl_sub'], 4), baseline='released-style unfold path, same pixels', baseline_seconds=round(best['unfold_sub'], 4),
        ratio_to_baseline=round(best['ssl_sub'] / best['unfold_sub'], 3), masked_pixels=256,
        note=f"|loss difference| = {agree:.2e}; ms per masked pixel: fsr {1e3 * best['ssl_sub'] / 256:.3f}, unfold {1e3 * per_px:.3f}")
    add(case='ssl_batch', weights='none needed', batch='16x3x128x128', seconds_per_call=round(best['ssl_batch'], 3),
        baseline='released-style unfold path, extrapolated from its time per masked pixel (not run: memory)',
        baseline_seconds=round(per_px * n_masked, 3), ratio_to_baseline=round(best['ssl_batch'] / (per_px * n_masked), 3),
        masked_pixels=n_masked, note='forward + backward, edge masks of the GT crops (Laplacian > 20)')
    if sys.platform.startswith('linux'):  # peak memory in a fresh process
        env = {**os.environ, 'OMP_NUM_THREADS': str(args.threads)}
        res = subprocess.run([sys.executable, '-c', PEAK_PROBE, str(HERE), str(args.threads)], capture_output=True, text=True, env=env)
        if res.returncode == 0:
            mem = json.loads(res.stdout.strip().splitlines()[-1])
            add(case='ssl_peak_memory', weights='none needed', batch='16x3x128x128', peak_mib=round(mem['delta'] / 2**20, 1),
                estimate_mib=round(mem['estimate'] / 2**20, 1), masked_pixels=mem['n_masked'],
                baseline='released path: its patch tensor alone (analytic)', baseline_mib=round(mem['n_masked'] * 3 * 81 * 625 * 4 / 2**20, 1),
                note='VmHWM above the resident set before the call, fresh process')
        else: print('peak-memory probe failed:', res.stderr[-2000:])
    if have_sq:
        add(case='perceptual_squeeze', weights='real (SqueezeNet 1.1 ImageNet)', batch='16x3x128x128', seconds_per_call=round(best['squeeze'], 3),
            baseline='LPIPS-squeeze as a loss', baseline_seconds=round(best['lpips_squeeze'], 3), ratio_to_baseline=round(best['squeeze'] / best['lpips_squeeze'], 3))
    for preset in ('realesrgan', 'srgan_vgg54'):
        add(case=f'perceptual_{preset}', weights='RANDOM VGG19 (timing only)', batch='16x3x128x128', seconds_per_call=round(best[preset], 3),
            baseline='perceptual_squeeze' if have_sq else '', baseline_seconds=round(best['squeeze'], 3) if have_sq else None,
            ratio_to_baseline=round(best[preset] / best['squeeze'], 3) if have_sq else None)
    for r in rows: r['load_avg_end'] = round(os.getloadavg()[0], 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    from fsr.core import atomic_write
    atomic_write(OUT, lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))
    print('wrote', OUT)

if __name__ == '__main__': main()
