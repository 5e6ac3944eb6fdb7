"""Architecture benchmark: MSRResNet-B16 (x4) on this CPU, as GFLOP/s against a plain 3x3-conv roofline measured in the same run.

Cases: inference on one 1x3x128x128 input (torch.inference_mode) and one training step (batch 16, LQ 32 -> GT 128, L1,
Adam; also fused Adam), each in NCHW and channels_last, with glibc's default allocator settings and with `mallopt` tuned so that big
activation buffers are reused instead of being mmap'ed and page-faulted on every op. Also: inference with oneDNN
(torch.backends.mkldnn) switched off. FLOPs are counted analytically (fsr.archs.count_flops: 2*MACs of convs, 3x for a
training step). Roofline: a 64->64 3x3 conv at the same number of pixels (train: fwd+bwd on 16x64x32x32; inference:
fwd on 1x64x128x128), in the faster of NCHW / channels_last. Every model measurement is paired with a roofline block of
about half its length run right after it, and `pct_of_roofline` is the median over rounds of model GFLOP/s divided by
the block's mean GFLOP/s, so neighbours on a shared machine slow both sides alike; `seconds` is the best round.
`pct_of_roofline_cpu_time` is the same ratio with process CPU time instead of wall time, and `pct_best_of_best` divides
the best model round by the best roofline block (the quiet-machine estimate).
Writes nbs/results/benchmarks/archs.csv.  Usage: python nbs/benchmarks/archs.py [--threads 2] [--rounds 3]
"""
import argparse, ctypes, datetime, os, platform, time, warnings
from pathlib import Path
import pandas as pd, torch, torch.nn.functional as F

p = argparse.ArgumentParser(); p.add_argument('--threads', type=int, default=2); p.add_argument('--rounds', type=int, default=3)
args = p.parse_args()
torch.set_num_threads(args.threads)
warnings.simplefilter('ignore')
from fsr.archs import count_flops
from fsr.archs.srresnet import MSRResNet
from fsr.core import atomic_write

CL = torch.channels_last
def fmt(t, cl): return t.contiguous(memory_format=CL) if cl else t.contiguous()

def timed(f):
    "Wall and process-CPU seconds of one call of `f`."
    w, c = time.perf_counter(), time.process_time(); f(); return time.perf_counter() - w, time.process_time() - c

def conv_roofline(train):
    "Closures for a 64->64 3x3 conv (fwd+bwd at 16x64x32x32, or fwd at 1x64x128x128), NCHW and channels_last, with FLOPs."
    shape = (16, 64, 32, 32) if train else (1, 64, 128, 128)
    flops = 2 * 64 * 64 * 9 * shape[0] * shape[2] * shape[3] * (3 if train else 1)
    fns = {}
    for cl in (False, True):
        conv = torch.nn.Conv2d(64, 64, 3, 1, 1).to(memory_format=CL if cl else torch.contiguous_format)
        x = fmt(torch.randn(*shape), cl).requires_grad_(train)
        def f(conv=conv, x=x):
            if train: y = conv(x); y.backward(torch.ones_like(y))
            else:
                with torch.inference_mode(): conv(x)
        fns['channels_last' if cl else 'NCHW'] = f
    return fns, flops

def msrresnet_train_step(cl, fused_adam=False):
    torch.manual_seed(0)
    net = MSRResNet().to(memory_format=CL if cl else torch.contiguous_format)
    x, gt = fmt(torch.rand(16, 3, 32, 32), cl), fmt(torch.rand(16, 3, 128, 128), cl)
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99), fused=fused_adam or None)
    def step():
        opt.zero_grad(set_to_none=True); F.l1_loss(net(x), gt).backward(); opt.step()
    return step

def msrresnet_inference(cl, mkldnn=True):
    torch.manual_seed(0)
    net = MSRResNet().eval().to(memory_format=CL if cl else torch.contiguous_format)
    x = fmt(torch.rand(1, 3, 128, 128), cl)
    def run():
        with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=mkldnn): net(x)
    return run

FL = dict(train=count_flops(MSRResNet(), (3, 32, 32), train=True) * 16, inference=count_flops(MSRResNet(), (3, 128, 128)))

def tune_malloc():
    "Keep freed memory in glibc's heap: no mmap for big blocks (M_MMAP_MAX=0), no trimming (M_TRIM_THRESHOLD max)."
    libc = ctypes.CDLL('libc.so.6')
    return libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, 2**31 - 1) == 1

def roofline_block(f, fl, seconds):
    "Mean GFLOP/s (wall and CPU time) of repeating `f` for about `seconds`: the conv sees the same neighbours as the model."
    n, w, c = 0, 0., 0.
    while n < 3 or w < seconds:
        dw, dc = timed(f); n, w, c = n + 1, w + dw, c + dc
    return fl * n / w / 1e9, fl * n / c / 1e9 * args.threads

def run_phase(allocator):
    "Rooflines (both layouts) once, then per round each variant paired with a roofline block of similar length."
    roofs = {m: conv_roofline(m == 'train') for m in ('train', 'inference')}
    best_lay = {}
    for m, (fns, fl) in roofs.items():  # pick the faster conv layout as the roofline of this phase
        g = {lay: roofline_block(f, fl, 0.5)[0] for lay, f in fns.items()}
        best_lay[m] = max(g, key=g.get)
    v = {('train', 'NCHW', 'Adam'): msrresnet_train_step(False), ('train', 'channels_last', 'Adam'): msrresnet_train_step(True),
         ('train', 'channels_last', 'fused Adam'): msrresnet_train_step(True, True),
         ('inference', 'NCHW', 'inference_mode'): msrresnet_inference(False),
         ('inference', 'channels_last', 'inference_mode'): msrresnet_inference(True)}
    if allocator == 'glibc default': v[('inference', 'NCHW', 'inference_mode, mkldnn off')] = msrresnet_inference(False, False)
    res = {k: [] for k in v}
    for r in range(args.rounds + 1):  # round 0 is warm-up
        for k, f in v.items():
            if r == 0 and 'mkldnn off' in k[2]: continue
            if r > 1 and 'mkldnn off' in k[2]: continue  # informative only: one measurement
            w, c = timed(f)
            rw, rc = roofline_block(roofs[k[0]][0][best_lay[k[0]]], roofs[k[0]][1], 0.5 * w)
            if r or 'mkldnn off' in k[2]: res[k].append((w, c, rw, rc))
        print(f'  [{allocator}] round {r} done, load {os.getloadavg()[0]:.1f}', flush=True)
    rows = []
    for (mode, lay, variant), ms in res.items():
        d = pd.DataFrame(ms, columns=['w', 'c', 'rw', 'rc'])
        rows.append(dict(mode=mode, model='MSRResNet-B16', layout=lay, variant=variant, allocator=allocator,
                         seconds=d.w.min(), seconds_median=d.w.median(), cpu_seconds=d.c.min(), gflop=FL[mode] / 1e9,
                         gflops=FL[mode] / d.w.min() / 1e9, roofline_layout=best_lay[mode], roofline_gflops=d.rw.max(),
                         pct_of_roofline=100 * (FL[mode] / d.w / 1e9 / d.rw).median(),
                         pct_best_of_best=100 * FL[mode] / d.w.min() / 1e9 / d.rw.max(),
                         pct_of_roofline_cpu_time=100 * (FL[mode] / d.c / 1e9 * args.threads / d.rc).median(), n=len(d)))
    return pd.DataFrame(rows)

t0 = time.perf_counter()
load0 = os.getloadavg()[0]
dfs = [run_phase('glibc default')]
if tune_malloc(): dfs.append(run_phase('mallopt: no mmap, no trim'))
df = pd.concat(dfs, ignore_index=True)
from fsr.experiments import cpu_name
cpu = cpu_name()
df = df.assign(device=f'cpu ({cpu}, {args.threads} threads)', threads=args.threads, torch=torch.__version__,
               date=datetime.datetime.now().isoformat(timespec='minutes'), rounds=args.rounds,
               loadavg_start=load0, loadavg_end=os.getloadavg()[0])
out = Path(__file__).resolve().parents[1]/'results'/'benchmarks'/'archs.csv'
atomic_write(out, lambda tmp: df.to_csv(tmp, index=False, float_format='%.4g'))
pd.set_option('display.width', 200)
print(df[['mode', 'layout', 'variant', 'allocator', 'seconds', 'seconds_median', 'gflops', 'roofline_gflops', 'pct_of_roofline', 'pct_of_roofline_cpu_time', 'pct_best_of_best']]
      .to_string(index=False, float_format=lambda v: f'{v:.3g}'))
print(f'BasicSR reference (a separate, earlier run on the 2-core AMD EPYC of the committed results): 0.62 s inference, 1.86 s/train step = 134 GFLOP/s, ~74% of ~180 GFLOP/s')
print(f'wrote {out} in {time.perf_counter() - t0:.0f} s')
