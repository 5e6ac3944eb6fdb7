"""Inference benchmark: peak memory and wall time of `fsr.inference.upscale` with MSRResNet-B16 (x4, random weights) on
one 512x512 LQ image (-> 2048x2048) on this CPU, untiled and tiled at several tile sizes (channels-last batches, the CPU
default, once in the NCHW layout, and once with glibc's `mallopt` set so that freed blocks are reused instead of
being returned and page-faulted again for every tile: M_MMAP_MAX=0, M_TRIM_THRESHOLD max), against plain `model(x)` on the whole image (the baseline of the ratios) and a re-implementation of
Real-ESRGAN's tiler (`RealESRGANer.tile_process`: tile 128 + pad 10 per side, one tile at a time, cropped, no blending).

Each variant runs in its own fresh process, so that its peak resident set size (`ru_maxrss`) is its own: it is reported
absolute and above the process's peak after importing torch, creating the model and allocating the input (baseline).
Wall and CPU time are the minimum over `--rounds` rounds that interleave the variants (the machine is shared; a noisy
neighbour hurts every variant alike). Every output is compared with plain `model(x)` (max abs difference).
Writes nbs/results/benchmarks/inference.csv.  Usage: python nbs/benchmarks/inference.py [--threads 2] [--rounds 3]
"""
import argparse, datetime, json, math, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'results'/'benchmarks'/'inference.csv'
VARIANTS = {  # name: (kind, tile, overlap); 'plain' = model(x) on the whole image, the baseline of the ratios
    'plain model(x)': ('plain', None, None),
    'upscale untiled': ('fsr', None, 16),
    'upscale tile 128': ('fsr', 128, 16),
    'upscale tile 192': ('fsr', 192, 16),
    'upscale tile 288': ('fsr', 288, 16),
    'upscale tile 192 NCHW': ('fsr-nchw', 192, 16),
    'upscale tile 192 + mallopt': ('fsr-mallopt', 192, 16),
    'Real-ESRGAN tiler 128+10': ('realesrgan', 128, 10),
}
BASE = 'plain model(x)'

from fsr.experiments import cpu_name

def realesrgan_tile_process(model, img, scale, tile, pad):
    "Real-ESRGAN's `RealESRGANer.tile_process` loop (v0.3.0), CPU, float32: padded tiles, cropped into a preallocated output."
    import torch
    b, c, h, w = img.shape
    out = img.new_zeros(b, c, h * scale, w * scale)
    for y in range(math.ceil(h / tile)):
        for x in range(math.ceil(w / tile)):
            x0, y0 = x * tile, y * tile
            x1, y1 = min(x0 + tile, w), min(y0 + tile, h)
            x0p, x1p, y0p, y1p = max(x0 - pad, 0), min(x1 + pad, w), max(y0 - pad, 0), min(y1 + pad, h)
            with torch.no_grad(): o = model(img[:, :, y0p:y1p, x0p:x1p])
            ox0, oy0 = (x0 - x0p) * scale, (y0 - y0p) * scale
            out[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = o[:, :, oy0:oy0 + (y1 - y0) * scale, ox0:ox0 + (x1 - x0) * scale]
    return out

def child(name, threads, save):
    "Run one variant in this (fresh) process and print a JSON line."
    kind, tile, overlap = VARIANTS[name]
    if kind == 'fsr-mallopt':  # keep freed blocks in glibc's heap (no mmap, no trim): tiles reuse them instead of page-faulting
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        if not (libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, 2**31 - 1) == 1): raise RuntimeError('mallopt failed')
    import torch
    torch.set_num_threads(threads)
    from fsr.archs import MSRResNet
    from fsr.inference import upscale
    torch.manual_seed(0)
    model = MSRResNet(num_feat=64, num_block=16, upscale=4).eval()
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(1))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w, c = time.perf_counter(), time.process_time()
    if kind in ('fsr', 'fsr-mallopt'): y = upscale(model, x, tile=tile, tile_overlap=overlap)
    elif kind == 'fsr-nchw': y = upscale(model, x, tile=tile, tile_overlap=overlap, channels_last=False)
    elif kind == 'plain':
        with torch.inference_mode(): y = model(x).clamp_(0, 1)
    else: y = realesrgan_tile_process(model, x, 4, tile, overlap).clamp_(0, 1)
    w, c = time.perf_counter() - w, time.process_time() - c
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if save: torch.save(y.contiguous(), save)
    print(json.dumps(dict(variant=name, wall_s=w, cpu_s=c, base_kib=base, peak_kib=peak, shape=list(y.shape))))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--child'); ap.add_argument('--save')
    args = ap.parse_args()
    if args.child: return child(args.child, args.threads, args.save)
    import torch, pandas as pd
    tmp = Path(tempfile.mkdtemp())
    load0 = os.getloadavg()[0]
    print(f'torch {torch.__version__}, {args.threads} threads, {cpu_name()}, load average {load0:.2f}')
    runs = {n: [] for n in VARIANTS}
    for r in range(args.rounds):
        for n in VARIANTS:
            save = str(tmp/f'{list(VARIANTS).index(n)}.pt') if r == 0 else None
            cmd = [sys.executable, __file__, '--child', n, '--threads', str(args.threads)] + (['--save', save] if save else [])
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode: raise RuntimeError(f'{n} failed:\n{res.stderr[-3000:]}')
            d = json.loads(res.stdout.strip().splitlines()[-1]); d['save'] = save
            runs[n].append(d)
            print(f'round {r} {n:26s} {d["wall_s"]:7.2f} s wall {d["cpu_s"]:7.2f} s cpu  peak {d["peak_kib"] / 2**20:.2f} GiB', flush=True)
    ref = torch.load(runs[BASE][0]['save'])
    rows = []
    for n, rs in runs.items():
        kind, tile, overlap = VARIANTS[n]
        y = torch.load(rs[0]['save'])
        rows.append(dict(variant=n, tile=tile, tile_overlap=overlap, wall_s=min(d['wall_s'] for d in rs), cpu_s=min(d['cpu_s'] for d in rs),
                         peak_rss_gib=max(d['peak_kib'] for d in rs) / 2**20, base_rss_gib=min(d['base_kib'] for d in rs) / 2**20,
                         peak_above_base_gib=max(d['peak_kib'] - d['base_kib'] for d in rs) / 2**20,
                         max_abs_diff=float((y - ref).abs().max()), output='x'.join(map(str, rs[0]['shape']))))
    df = pd.DataFrame(rows)
    u = df.set_index('variant').loc[BASE]
    df['wall_vs_plain'] = df.wall_s / u.wall_s; df['cpu_vs_plain'] = df.cpu_s / u.cpu_s; df['rss_vs_plain'] = df.peak_rss_gib / u.peak_rss_gib
    df['device'] = f'CPU: {cpu_name()}'; df['threads'] = args.threads; df['torch'] = torch.__version__
    df['date'] = datetime.date.today().isoformat(); df['rounds'] = args.rounds
    df['load_avg'] = round((load0 + os.getloadavg()[0]) / 2, 2)
    df['model'] = 'MSRResNet-B16 x4 (random weights)'; df['input'] = '1x3x512x512'
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(OUT, index=False, float_format='%.4g')
    with pd.option_context('display.width', 200, 'display.max_columns', 30):
        print(df[['variant', 'wall_s', 'cpu_s', 'peak_rss_gib', 'peak_above_base_gib', 'max_abs_diff', 'wall_vs_plain', 'cpu_vs_plain', 'rss_vs_plain']])
    print(f'wrote {OUT}')

if __name__ == '__main__': main()
