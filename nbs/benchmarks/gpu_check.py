"""The GPU check: does fsr's first run on a CUDA machine work, and how fast is it? One script, a few minutes.

    python nbs/benchmarks/gpu_check.py                      # on a CUDA machine; writes nbs/results/benchmarks/gpu_check.csv
    python nbs/benchmarks/gpu_check.py --device cpu --quick # the same steps, tiny, to check the script itself on a CPU

Data (carried to the GPU machine, <= 64 MiB, never committed): `--faces` a folder of 512x512 faces (a few hundred),
`--val` a folder with lq/ and gt/ (defaults: data/faces/512 and data/val, or the embedded sample set).
What it does, each step written as rows (step, metric, value, unit) of one CSV labelled with the device:
1. trains `msrresnet_b16 --profile full` (bf16 autocast, channels_last, degradation on the GPU) for `--iters`
   iterations and splits the time per iteration into data loading / degradation / optimisation step; peak memory;
2. exact resume on the device: N straight iterations vs N/2 + resume N/2 (max |weight difference|, must be 0);
3. `fsr-infer` on a 2048x2048 image, untiled and tiled (seconds, peak memory, max |difference|);
4. one MetaF2N test-time adaptation of the shipped face model on a validation face (seconds);
5. a plain BasicSR-style optimisation step (fp32, NCHW, per-parameter EMA) on the same device and batch, so the CSV
   holds a same-run ratio against fsr's step. (Timing BasicSR's own `RealESRNetModel` needs its source and its
   dependencies on the GPU machine; this script does not bring them.)
"""
from __future__ import annotations
import argparse, csv, os, platform, sys, tempfile, time, traceback
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[2]


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def device_label(dev) -> str:
    if dev.type == 'cuda': return torch.cuda.get_device_name(dev)
    from fsr.experiments import cpu_name
    return f'{cpu_name()} ({torch.get_num_threads()} threads)'


def peak_reset(dev):
    if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)


def peak_mib(dev) -> float:
    return torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else float('nan')


def train_cfg(args, out_dir, iters, name, total=None):
    "The check's config: `iters` iterations of a run whose schedule spans `total` (default: `iters`)."
    total = total or iters
    from fsr.train import load_train_config
    ov = [f'out_dir={out_dir}', f'name={name}', f'iters={iters}', f'val_every={10**9}', f'ckpt_every={max(1, total // 2)}',
          f'log_every={max(1, total // 2)}', f'data.train={args.faces}', 'data.val=', f'scheduler.periods=[{total}]', 'scheduler.restart_weights=[1.0]',
          f'data.num_workers={args.workers}']
    if args.quick: ov += ['arch.num_block=2', 'arch.num_feat=16', 'data.gt_size=128', 'data.batch_size=2']
    return load_train_config('msrresnet_b16', 'full', ov)


def step_train(args, dev, rows):
    "Iterations/s split into data / degradation / step, and peak memory."
    from fsr.train import Trainer
    from torch.utils.data import DataLoader
    from fsr.train import SeededBatches
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer(train_cfg(args, d, args.iters, 'speed'), device=str(dev), progress=False)
        cfg = tr.cfg
        dl = DataLoader(tr.train_ds, batch_sampler=SeededBatches(len(tr.train_ds), cfg.data.batch_size, cfg.seed, 0, cfg.iters),
                        num_workers=cfg.data.num_workers, pin_memory=dev.type == 'cuda')
        t = {'data': 0.0, 'degradation': 0.0, 'step': 0.0}; n = 0; warm = min(5, args.iters // 4)
        peak_reset(dev); t0 = time.perf_counter()
        for i, batch in enumerate(dl):
            t1 = time.perf_counter()
            gt = batch.to(dev, non_blocking=True); sync(dev); t2 = time.perf_counter()
            lq = tr.make_lq(gt, tr.it).contiguous(memory_format=tr.mf); sync(dev); t3 = time.perf_counter()
            tr.train_step(lq, gt); tr.sched_g.step(); tr.it += 1; sync(dev); t4 = time.perf_counter()
            if i >= warm:
                t['data'] += t2 - t0; t['degradation'] += t3 - t2; t['step'] += t4 - t3; n += 1
            t0 = time.perf_counter()
        for k, v in t.items(): rows.append(('train', f'sec_{k}_per_iter', v / max(1, n), 's'))
        rows.append(('train', 'iters_per_s', n / max(1e-9, sum(t.values())), 'it/s'))
        rows.append(('train', 'peak_memory', peak_mib(dev), 'MiB'))
        rows.append(('train', 'batch x gt_size', f'{cfg.data.batch_size}x{cfg.data.gt_size}', ''))
        rows.append(('train', 'amp', str(tr.autocast_dtype), ''))


def step_resume(args, dev, rows):
    "N straight vs N/2 + resume N/2 on the device: the weights must be identical."
    from fsr.train import Trainer
    n = max(2, args.resume_iters - args.resume_iters % 2)
    with tempfile.TemporaryDirectory() as d:
        a = Trainer(train_cfg(args, d, n, 'straight'), device=str(dev), progress=False); a.fit()
        b = Trainer(train_cfg(args, d, n // 2, 'resumed', total=n), device=str(dev), progress=False); b.fit()
        c = Trainer(train_cfg(args, d, n, 'resumed'), resume=True, device=str(dev), progress=False); c.fit()
        wa, wc = a.weights(), c.weights()
        key = 'params_ema' if 'params_ema' in wa else 'params'
        diff = max(float((wa[key][k].float() - wc[key][k].float()).abs().max()) for k in wa[key])
        rows.append(('resume', f'max_abs_weight_diff ({n} straight vs {n // 2}+{n // 2})', diff, ''))
        if diff != 0: print(f'WARNING: resume is not exact on {dev}: max |diff| {diff}')


def step_infer(args, dev, rows):
    "fsr-infer on a 2048x2048 image, untiled and tiled."
    from fsr.core import load_image, save_image
    from fsr.cli import infer_main
    from fsr.data import dataset_dir
    side = 256 if args.quick else 2048
    face = load_image(dataset_dir('val')/'gt'/sorted(os.listdir(dataset_dir('val')/'gt'))[0])
    img = face.repeat(1, 4, 4)[:, :side, :side]
    with tempfile.TemporaryDirectory() as d:
        src = Path(d)/'big.png'; save_image(img, src)
        outs = {}
        for label, extra in [('untiled', []), ('tiled 512', ['--tile', '128' if args.quick else '512'])]:
            peak_reset(dev); t0 = time.perf_counter()
            infer_main(['face-b16', str(src), '--out', f'{d}/{label.split()[0]}', '--device', str(dev)] + extra)
            sync(dev); dt = time.perf_counter() - t0
            outs[label] = load_image(Path(d)/label.split()[0]/'big.png')
            rows.append(('infer', f'{label} {side}x{side} seconds (incl. model load, PNG I/O)', dt, 's'))
            rows.append(('infer', f'{label} peak_memory', peak_mib(dev), 'MiB'))
        rows.append(('infer', 'max_abs_diff tiled vs untiled (8-bit levels)', float((outs['untiled'] - outs['tiled 512']).abs().max() * 255), ''))


def step_metaf2n(args, dev, rows):
    "One MetaF2N test-time adaptation of the shipped face model on a validation face."
    import fsr
    from fsr.core import load_image
    from fsr.data import dataset_dir
    from fsr.metaf2n import MaskNet, test_time_adapt
    model = fsr.load_model('face-b16', device=dev)
    restorer = fsr.load_model('face-b16', device=dev)
    lq = load_image(dataset_dir('val')/'lq'/sorted(os.listdir(dataset_dir('val')/'lq'))[0]).to(dev)
    h, w = lq.shape[-2:]
    sync(dev); t0 = time.perf_counter()
    test_time_adapt(model, lq, boxes=[(0, 0, w, h)], restorer=restorer, masknet=MaskNet().to(dev))
    sync(dev); rows.append(('metaf2n', 'one adaptation (restorer targets, 1 step) seconds', time.perf_counter() - t0, 's'))


def step_baseline(args, dev, rows):
    "A plain BasicSR-style step on the same device and batch (fp32, NCHW, Adam, per-parameter EMA), for a same-run ratio."
    import torch.nn.functional as F
    from fsr.archs import build_arch
    from fsr.degradation import degrade
    with tempfile.TemporaryDirectory() as d:
        cfg = train_cfg(args, d, args.iters, 'baseline')
    net = build_arch(cfg.arch).to(dev); ema = build_arch(cfg.arch).to(dev).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
    gt = torch.rand(cfg.data.batch_size, 3, cfg.data.gt_size, cfg.data.gt_size, device=dev)
    lq = degrade(gt, 'bicubic')
    n, warm, t = max(4, args.iters // 4), 2, 0.0
    for i in range(n + warm):
        sync(dev); t0 = time.perf_counter()
        opt.zero_grad(); F.l1_loss(net(lq), gt).backward(); opt.step()
        for pe, pn in zip(ema.parameters(), net.parameters()): pe.data.mul_(0.999).add_(pn.data, alpha=0.001)
        sync(dev)
        if i >= warm: t += time.perf_counter() - t0
    rows.append(('baseline', 'BasicSR-style sec_step_per_iter (fp32, NCHW, per-parameter EMA)', t / n, 's'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default=None, help='default: cuda when available, else cpu')
    p.add_argument('--iters', type=int, default=200); p.add_argument('--resume-iters', type=int, default=40)
    p.add_argument('--faces', default='faces'); p.add_argument('--workers', type=int, default=4)
    p.add_argument('--quick', action='store_true', help='tiny model and sizes: checks the script on a CPU')
    p.add_argument('--out', default=None)
    p.add_argument('--steps', default='train,baseline,resume,infer,metaf2n')
    a = p.parse_args(argv)
    dev = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if a.quick: a.iters, a.resume_iters, a.workers = min(a.iters, 8), min(a.resume_iters, 4), 0
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    out = Path(a.out) if a.out else ROOT/'nbs'/'results'/'benchmarks'/('gpu_check.csv' if dev.type == 'cuda' else 'gpu_check_cpu.csv')
    label = device_label(dev)
    rows, t0 = [], time.perf_counter()
    steps = {'train': step_train, 'resume': step_resume, 'infer': step_infer, 'metaf2n': step_metaf2n, 'baseline': step_baseline}
    for s in a.steps.split(','):
        ts = time.perf_counter()
        try: steps[s](a, dev, rows)
        except Exception as e:  # one failing step must not lose the others' rows
            traceback.print_exc(); rows.append((s, 'FAILED', f'{type(e).__name__}: {e}'[:300], ''))
        print(f'{s}: {time.perf_counter() - ts:.1f} s', flush=True)
    meta = dict(device=label, torch=torch.__version__, python=platform.python_version(), iters=a.iters, quick=a.quick,
                wall_s=round(time.perf_counter() - t0, 1), date=time.strftime('%Y-%m-%dT%H:%M:%S'))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, 'w', newline='') as f:
        w = csv.writer(f); w.writerow(['device', 'step', 'metric', 'value', 'unit', 'torch', 'iters', 'quick', 'wall_s', 'date'])
        for r in rows: w.writerow([meta['device'], *r, meta['torch'], meta['iters'], meta['quick'], meta['wall_s'], meta['date']])
    print(f'{len(rows)} rows written to {out} ({meta["wall_s"]} s on {label})')
    return 0 if not any(r[1] == 'FAILED' for r in rows) else 1


if __name__ == '__main__': sys.exit(main())
