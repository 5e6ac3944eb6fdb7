"""Training-loop benchmark: MSRResNet-B16, batch 16, GT 128 (LQ 32), `realesrgan` preset on the fly, EMA on, on this CPU.

Compares fsr's Trainer step (channels_last, foreach EMA) with a plain BasicSR-style loop (NCHW, per-parameter EMA)
measured in the same run, and splits fsr's iteration into data, degradation, forward/backward and optimizer+EMA.
Where the CPU has native bf16 (`fsr.train.cpu_has_bf16`), also the same Trainer with `amp: bf16` (the cpu profiles' setting).
Needs the real faces (data/faces/512). Writes nbs/results/benchmarks/train.csv.  Usage: python nbs/benchmarks/train.py [--iters 6] [--threads 2]
"""
import argparse, datetime, os, platform, sys, time, warnings
from pathlib import Path
import pandas as pd, torch, torch.nn.functional as F

p = argparse.ArgumentParser(); p.add_argument('--iters', type=int, default=6); p.add_argument('--threads', type=int, default=2)
args = p.parse_args()
OUT = Path(__file__).resolve().parents[1]/'results'/'benchmarks'/'train.csv'
from fsr.experiments import device_name, require_real_data
require_real_data(('faces',), OUT)
torch.set_num_threads(args.threads)
warnings.simplefilter('ignore')
from fsr.core import keep_freed_memory, to_dict
from fsr.train import Trainer, load_train_config, SeededBatches, cpu_has_bf16
tuned = keep_freed_memory()  # as fsr-train does on CPU
from fsr.archs import build_arch
from fsr.degradation import degrade

cfg = load_train_config('msrresnet_b16', overrides=['data.gt_size=128', 'data.batch_size=16', 'data.degradation=realesrgan',
                        'data.num_workers=0', 'data.val=', 'out_dir=/tmp/fsr-bench', 'ema_decay=0.999', 'amp=none'])
tr = Trainer(cfg, device='cpu', progress=False)
sampler = SeededBatches(len(tr.train_ds), 16, 0, 0, args.iters + 1)
def collate(b): return torch.stack([tr.train_ds[k] for k in b])

rows = []
def timed(f):
    t = time.perf_counter(); out = f(); return out, time.perf_counter() - t

# fsr: full iteration, phase by phase (first iteration is warm-up)
def fsr_rows(tr, impl):
    for it, b in enumerate(sampler):
        gt, t_data = timed(lambda: collate(b))
        lq, t_deg = timed(lambda: tr.make_lq(gt, it).contiguous(memory_format=torch.channels_last))
        def fwd_bwd():
            tr.opt_g.zero_grad(set_to_none=True)
            with torch.autocast(tr.device.type, dtype=tr.autocast_dtype, enabled=tr.autocast_dtype is not None): loss = tr.pixel_loss(tr.net_g(lq).float(), gt)
            loss.backward(); return loss
        _, t_fb = timed(fwd_bwd)
        _, t_opt = timed(lambda: (tr.opt_g.step(), tr.ema.update(tr.net_g)))
        if it: rows.append(dict(impl=impl, data=t_data, degradation=t_deg, fwd_bwd=t_fb, optim_ema=t_opt))
    return gt, lq
gt, lq = fsr_rows(tr, 'fsr')
tr.close()  # gives back the run folder, which the bf16 Trainer below uses too
if cpu_has_bf16():
    tb = Trainer(load_train_config(to_dict(cfg), overrides=['amp=bf16']), device='cpu', progress=False)
    fsr_rows(tb, 'fsr, amp bf16'); tb.close()

# baseline: BasicSR-style step (NCHW model, Adam, per-parameter EMA) on the same LQ
net = build_arch(cfg.arch); ema = build_arch(cfg.arch).requires_grad_(False)
opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
lq_nchw = lq.contiguous()
for it in range(args.iters + 1):
    def fwd_bwd():
        opt.zero_grad(); loss = F.l1_loss(net(lq_nchw), gt); loss.backward()
    _, t_fb = timed(fwd_bwd)
    def step():
        opt.step()
        for pe, pn in zip(ema.parameters(), net.parameters()): pe.data.mul_(0.999).add_(pn.data, alpha=0.001)
    _, t_opt = timed(step)
    if it: rows.append(dict(impl='basicsr-style (NCHW)', data=float('nan'), degradation=float('nan'), fwd_bwd=t_fb, optim_ema=t_opt))

df = pd.DataFrame(rows).groupby('impl', sort=False).median().reset_index()
df['step'] = df.fwd_bwd + df.optim_ema
df['total'] = df[['data', 'degradation', 'fwd_bwd', 'optim_ema']].sum(axis=1, min_count=4)
df['total_data_in_workers'] = df.total - df.data  # with data.num_workers > 0 the loading overlaps the step
base = df.loc[df.impl.str.startswith('basicsr'), 'step'].iloc[0]
df['step_speedup_vs_baseline'] = base / df.step
df = df.assign(device=f'cpu: {device_name("cpu")}', mallopt=tuned, load_avg=os.getloadavg()[0], batch=16, gt_size=128,
               preset='realesrgan', iters_measured=args.iters, torch=torch.__version__, date=datetime.date.today().isoformat())
OUT.parent.mkdir(parents=True, exist_ok=True); df.round(4).to_csv(OUT, index=False)
print(df.round(3).to_string(index=False))
