__version__ = "0.0.1"

# The top-level API (nbs/15_api.ipynb), imported on first use so that `import fsr.core` stays light.
__all__ = ['load_model', 'upscale', 'degrade', 'evaluate', 'train_model', 'shipped_models']

def __getattr__(name):
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'fsr' has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + __all__)
