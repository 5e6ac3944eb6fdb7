"""Benchmark of the degradation pipeline: images/s of the `realesrgan` preset (GT 512 -> LQ 128 and GT 256 -> LQ 64,
batch 8 and 16) for the batched implementation in `fsr.degradation` and for a plain per-sample reference
(`degrade_reference`: dense 51x51 USM, every blur on the full 21x21 canvas, `torch.unique` Poisson levels), both on
the same images with the same parameters, measured in the same run. The batched path is timed twice: as shipped (on a
CPU the per-image stages run two images at a time in threads) and with one worker, whose per-stage wall times are the
ones reported. `speedup_cpu_time` compares process CPU seconds per image instead of wall time (less sensitive to other
jobs on a shared machine). Writes nbs/results/benchmarks/degradation.csv (`--quick`: a temporary file, unless `--out`).
Needs the real faces (data/faces/512).

Usage: python nbs/benchmarks/degradation.py [--threads 2] [--quick] [--out PATH]
"""
import argparse, contextlib, datetime, os, platform, statistics, sys, tempfile, time
from pathlib import Path
import torch
import pandas as pd
from fsr.core import imresize, load_image
from fsr.data import dataset_dir, find_images
from fsr.degradation import apply_params, degrade_reference, get_preset, sample_params, set_degradation_threads

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'results'/'benchmarks'/'degradation.csv'

from fsr.experiments import cpu_name, require_real_data


@contextlib.contextmanager
def per_image_workers(n):
    "Run the per-image stages of `fsr.degradation` with `n` workers (None: as shipped, one per torch thread)."
    old = set_degradation_threads(n)
    try: yield
    finally: set_degradation_threads(old)

def faces(n, size):
    "The first n faces of the data set (or the embedded sample, repeated), resized to size x size."
    files = find_images(dataset_dir('faces'))
    imgs = [load_image(files[i % len(files)]) for i in range(n)]
    x = torch.stack(imgs)
    return x if x.shape[-1] == size else imresize(x, size=(size, size)).clamp(0, 1)

CPU = {}
def timed(fn, key=None):
    "Wall seconds of fn() (and, under `key`, add its process CPU seconds to CPU)."
    c, t = time.process_time(), time.perf_counter(); out = fn(); dt = time.perf_counter() - t
    if key: CPU[key] = CPU.get(key, 0.) + time.process_time() - c
    return dt, out

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--quick', action='store_true', help='one seed per setting (a smoke run)')
    ap.add_argument('--out', type=Path, help=f'the CSV to write (default: {OUT}; with --quick a temporary file)')
    args = ap.parse_args()
    out = args.out or (Path(tempfile.mkdtemp())/'degradation.csv' if args.quick else OUT)
    if out == OUT: require_real_data(('faces',), OUT)
    torch.set_num_threads(args.threads)
    cfg = get_preset('realesrgan')
    load1 = os.getloadavg()[0]
    print(f'torch {torch.__version__}, {args.threads} threads, {cpu_name()}, load average {load1:.2f}')
    rows = []
    for gt_size, n_seeds in ((512, 2), (256, 4)):
        pool = faces(16, gt_size)
        for batch in (8, 16):
            gt = pool[:batch].contiguous()
            seeds = range(1 if args.quick else n_seeds)
            apply_params(gt, cfg, sample_params(cfg, batch, torch.Generator().manual_seed(999)), 4)  # warm-up
            fast_t, serial_t, ref_t, stages, ref_stages = [], [], [], [], []
            CPU.clear()
            for s in seeds:
                params = sample_params(cfg, batch, torch.Generator().manual_seed(s))
                for threads, store in ((None, fast_t), (1, serial_t)):
                    runs = []
                    with per_image_workers(threads):
                        for _ in range(3):  # the batched path is cheap: median of 3
                            times = {}
                            dt, lq = timed(lambda: apply_params(gt, cfg, params, 4, times), 'fast' if threads is None else None)
                            runs.append((dt, times))
                    dt, times = sorted(runs, key=lambda r: r[0])[1]
                    store.append(dt)
                    if threads == 1: stages.append(times)
                rtimes = {}; ref_stages.append(rtimes)
                rdt, lq_ref = timed(lambda: degrade_reference(gt, cfg, params, 4, rtimes), 'ref')
                ref_t.append(rdt)
                mse = ((lq - lq_ref)**2).mean().item()
                agree = float('inf') if mse == 0 else 10 * torch.log10(torch.tensor(1 / mse)).item()
            n_img = batch * len(seeds)
            fast_ips, serial_ips, ref_ips = n_img / sum(fast_t), n_img / sum(serial_t), n_img / sum(ref_t)
            per_img = lambda ts: {k: 1000 * sum(t.get(k, 0.) for t in ts) / n_img for k in sorted({k for t in ts for k in t})}
            stage_ms, ref_ms = per_img(stages), per_img(ref_stages)
            row = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), device=f'cpu: {cpu_name()}', threads=args.threads,
                       torch=torch.__version__, load_avg_1min=round(load1, 2), gt_size=gt_size, lq_size=gt_size // 4, batch=batch,
                       images=n_img, fast_images_per_s=round(fast_ips, 2), fast_one_worker_images_per_s=round(serial_ips, 2),
                       reference_images_per_s=round(ref_ips, 3), speedup=round(fast_ips / ref_ips, 1), speedup_one_worker=round(serial_ips / ref_ips, 1),
                       speedup_cpu_time=round((CPU['ref'] / n_img) / (CPU['fast'] / (3 * n_img)), 1), psnr_fast_vs_reference_last_batch=round(agree, 1),
                       **{f'ms_per_image_{k}': round(v, 2) for k, v in stage_ms.items()}, **{f'ref_ms_per_image_{k}': round(v, 1) for k, v in ref_ms.items()})
            rows.append(row)
            top = ', '.join(f'{k} {v:.1f}' for k, v in sorted(stage_ms.items(), key=lambda kv: -kv[1])[:6])
            print(f'GT {gt_size} -> {gt_size // 4}, batch {batch:2d}: fast {fast_ips:6.2f} img/s (one worker {serial_ips:6.2f}), '
                  f'reference {ref_ips:5.2f} img/s, speedup {fast_ips / ref_ips:5.1f}x\n    one-worker ms/image: {top}\n'
                  f'    reference ms/image: ' + ', '.join(f'{k} {v:.1f}' for k, v in sorted(ref_ms.items(), key=lambda kv: -kv[1])[:4]))
    df = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f'wrote {out} (load average at the end {os.getloadavg()[0]:.2f})')

if __name__ == '__main__': main()
