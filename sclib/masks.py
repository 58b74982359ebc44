"""Weight masks for any PyTorch model (arXiv 2301.10884, its method).

Continuous sparsification (Savarese et al. 2020): each masked weight ``W`` gets a logit
tensor ``s`` of its shape, and the module sees ``W * sigmoid(temperature * s)`` in
training mode and ``W * (s > 0)`` in eval mode. One parametrization
(``torch.nn.utils.parametrize``) serves nn.Linear, nn.Conv1d/2d/3d, HF ``Conv1D`` and
nn.MultiheadAttention's input projection alike. In a weight-sparse model a mask keeps
only weights that exist: kept sets, L0 and kept fractions count the nonzero weights
(``WeightMask.support``). This module knows only PyTorch; the ablations built on it are
``sclib.ablation``.

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> ms = add_masks(model, init=0.05)
>>> sorted(ms), ms.kept_fraction()
(['0.weight', '2.weight'], 1.0)
>>> with ms.disabled():  # the unmasked model inside
...     out = model.eval()(torch.ones(1, 4))
>>> ms.remove()
"""

from __future__ import annotations

import fnmatch
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("continuous", "hard_concrete")
# Hard concrete stretch and temperature (Louizos et al. 2018).
HC_BETA, HC_GAMMA, HC_ZETA = 2 / 3, -0.1, 1.1
# Training gates are sigmoid(max(beta * s, GATE_FLOOR)): never below sigmoid(-15) = 3e-7.
# Without a floor, the gates of pruned weights sink towards 1e-40 and the products with
# them (forward and backward) become denormal floats, which x86 CPUs compute many times
# slower: a language mask step took 1.7x as long once its mask had emptied (and
# torch.set_flush_denormal would reach only the calling thread, not the intra-op pool).
# A weight at the floor is gone either way (3e-7 of itself), and its gradient (3e-7 of a
# live one's) moves its logit by nothing Adam's epsilon lets through.
GATE_FLOOR = -15.0


class _Gated(torch.autograd.Function):
    """``(W * g, g)`` with ``g = sigmoid(max(beta * s, GATE_FLOOR))``, fused by hand.

    The mask step's own cost is these elementwise passes over every masked weight, once per
    step: autograd's ``W * where(beta * s > floor, sigmoid(beta * s), 0)`` made ten of them,
    this makes seven (NeuroSurgeon's unfloored ``W * sigmoid(beta * s)``: eight, as autograd
    runs it); ``bench/masks.py`` measures the step. The gate ``g`` is returned too, so the
    L0 term (its sum) shares the backward pass. ``W`` gets no gradient (the base is frozen).
    """

    @staticmethod
    def forward(ctx, weight: Tensor, logits: Tensor, beta: float) -> tuple[Tensor, Tensor]:
        gate = torch.mul(logits, beta).clamp_(min=GATE_FLOOR).sigmoid_()
        ctx.save_for_backward(weight, gate)
        ctx.beta = beta
        ctx.set_materialize_grads(False)
        return weight * gate, gate

    @staticmethod
    def backward(ctx, grad_out: Tensor | None, grad_gate: Tensor | None):
        weight, gate = ctx.saved_tensors
        grad = grad_out * weight if grad_out is not None else None
        if grad_gate is not None:
            grad = grad_gate.expand_as(gate).clone() if grad is None else grad.add_(grad_gate)
        if grad is None:
            return None, None, None
        # d sigmoid(x) / dx = g (1 - g); below the floor the true gradient is 0, here it is
        # g (1 - g) * beta <= 3e-7 * beta of the upstream one: see GATE_FLOOR
        return None, torch.ops.aten.sigmoid_backward(grad, gate).mul_(ctx.beta), None


Include = None | str | Sequence[str] | Callable[[str, nn.Module], bool]


class WeightMask(nn.Module):
    """A mask on one weight tensor, used as a parametrization: ``forward(W) -> W'``.

    Attributes:
        logits: the mask scores ``s`` (log alpha for hard concrete), shaped like the weight.
        method: "continuous", "hard_concrete", or "fixed" (a binary mask in both modes,
            made by :func:`magnitude_masks`).
        temperature: beta of ``sigmoid(beta * s)``; unused by hard concrete and fixed masks.
        fan_in: the weight's fan-in, for Kaiming re-draws in ``random_reinit`` ablation.
        support: a non-persistent buffer: ``None`` when every weight is nonzero (a dense
            model), else the boolean tensor ``weight != 0`` at construction. A mask keeps
            only weights that exist: ``kept()``, ``l0()`` and ``size()`` count the
            supported (nonzero) weights only (a weight-sparse base model, ``sclib.sparsity``).
    """

    def __init__(self, weight: Tensor, init: float, method: str, fan_in: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.full_like(weight, init, requires_grad=True))
        self.method = method
        self.temperature = 1.0
        self.fan_in = fan_in
        support = weight.detach() != 0
        self.register_buffer("support", None if bool(support.all()) else support, persistent=False)
        # (gate, addend): the module sees W * gate + addend; None entries are skipped.
        self.override: tuple[Tensor | None, Tensor | None] | None = None
        self._gate: Tensor | None = None  # training gate of the last forward, reused by l0()
        self._gate_key: tuple[int, float] = (-1, 0.0)

    def forward(self, weight: Tensor) -> Tensor:
        if self.override is not None:
            gate, addend = self.override
            out = weight if gate is None else weight * gate
            return out if addend is None else out + addend
        if not self.training or self.method == "fixed":
            return weight * (self.logits > 0)
        if self.method == "hard_concrete":
            u = torch.rand_like(self.logits).clamp_(1e-6, 1 - 1e-6)
            s = torch.sigmoid((u.log() - (-u).log1p() + self.logits) / HC_BETA)
            return weight * (s * (HC_ZETA - HC_GAMMA) + HC_GAMMA).clamp(0.0, 1.0)
        if not torch.is_grad_enabled() or weight.requires_grad:
            return weight * self._soft_gate()
        masked, gate = _Gated.apply(weight, self.logits, float(self.temperature))
        if gate.requires_grad:  # keep it for l0(); forget it once backward has used it
            self._gate, self._gate_key = gate, (self.logits._version, self.temperature)
            gate.register_hook(self._forget_gate)
        return masked

    def _forget_gate(self, grad: Tensor) -> None:
        self._gate = None

    def __getstate__(self) -> dict:  # the cached gate is a graph node: never copy it
        return {**self.__dict__, "_gate": None}

    def l0(self) -> Tensor:
        """The differentiable L0 surrogate: the sum of the training gates
        sigmoid(max(temperature * logits, GATE_FLOOR)); the expected number
        of open gates for hard concrete; the kept count for fixed masks. Summed over the
        nonzero (existing) weights only (``support``)."""
        if self.method == "fixed":
            return self.kept().sum().to(self.logits.dtype)
        if self.method == "hard_concrete":
            shift = HC_BETA * math.log(-HC_GAMMA / HC_ZETA)
            gate = torch.sigmoid(self.logits - shift)
        else:
            gate = self._gate
            if gate is None or self._gate_key != (self.logits._version, self.temperature):
                gate = self._soft_gate()
        return gate.sum() if self.support is None else (gate * self.support).sum()

    def _soft_gate(self) -> Tensor:
        """The training gate by plain autograd ops (the L0 term when no forward cached it)."""
        return torch.sigmoid((self.logits * self.temperature).clamp(min=GATE_FLOOR))

    def kept(self) -> Tensor:
        """Boolean tensor of the subnetwork: logits > 0, among the nonzero weights."""
        kept = self.logits.detach() > 0
        return kept if self.support is None else kept & self.support

    def size(self) -> int:
        """How many weights the mask can keep: the nonzero (existing) ones."""
        return self.logits.numel() if self.support is None else int(self.support.sum())


def _fan_in(module: nn.Module, weight: Tensor) -> int:
    if _class_of(module).__name__ == "Conv1D":  # HF Conv1D stores weight as (in, out)
        return weight.shape[0]
    return nn.init._calculate_fan_in_and_fan_out(weight)[0]


def _class_of(module: nn.Module) -> type:
    return parametrize.type_before_parametrizations(module)


def _maskable(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(module name, module, tensor name) of every Linear/Conv/Conv1D/attention weight."""
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    found = []
    for name, module in model.named_modules():
        cls = _class_of(module)
        if issubclass(cls, (nn.Linear, nn.modules.conv._ConvNd)) or cls.__name__ == "Conv1D":
            tensor_names = ["weight"]
        elif issubclass(cls, nn.MultiheadAttention):
            tensor_names = ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"]
        else:
            continue
        for tname in tensor_names:
            if parametrize.is_parametrized(module, tname):
                found.append((name, module, tname))
                continue
            w = module._parameters.get(tname)
            if w is not None and id(w) not in embedding_ids:  # tied to an embedding: skip
                found.append((name, module, tname))
    return found


def maskable_weights(model: nn.Module, include: Include = None) -> list[tuple[str, Tensor]]:
    """(name, weight) of every tensor ``add_masks(model, include)`` would mask, by the names
    of ``MaskSet``; a weight that is masked already is given as its unmasked original
    (``sclib.sparsity`` sparsifies them).

    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [(name, tuple(w.shape)) for name, w in maskable_weights(model, "2")]
    [('2.weight', (2, 8))]
    """
    out = []
    for name, module, tname in _select(model, include):
        if parametrize.is_parametrized(module, tname):
            weight = module.parametrizations[tname].original
        else:
            weight = module._parameters[tname]
        out.append((f"{name}.{tname}" if name else tname, weight))
    return out


def _select(model: nn.Module, include: Include) -> list[tuple[str, nn.Module, str]]:
    candidates = _maskable(model)
    if not candidates:
        raise ValueError(
            f"{type(model).__name__} has no maskable weights; masks go on nn.Linear, "
            "nn.Conv1d/2d/3d, HF Conv1D and nn.MultiheadAttention weights"
        )
    names = list(dict.fromkeys(name for name, _, _ in candidates))
    shown = ", ".join(repr(n) for n in names[:8]) + (
        f" (and {len(names) - 8} more)" * (len(names) > 8)
    )
    if include is None:
        return candidates
    if callable(include):
        chosen = [c for c in candidates if include(c[0], c[1])]
        if not chosen:
            raise ValueError(f"include predicate selected no module; maskable modules: {shown}")
        return chosen
    patterns = [include] if isinstance(include, str) else list(include)
    chosen = [c for c in candidates if any(fnmatch.fnmatchcase(c[0], p) for p in patterns)]
    if not chosen:
        raise ValueError(
            f"include patterns {patterns} match no maskable module; maskable modules: {shown}"
        )
    unused = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in names)]
    if unused:
        warnings.warn(f"include patterns {unused} match no maskable module", stacklevel=3)
    return chosen


class MaskSet(Mapping[str, WeightMask]):
    """The masks on one model, keyed by masked weight name (e.g. ``"encoder.0.weight"``).

    Made by :func:`add_masks` or :func:`magnitude_masks`. ``model.train()`` / ``model.eval()``
    switch the masks between soft and binary gates.
    """

    def __init__(
        self,
        model: nn.Module,
        targets: dict[str, tuple[nn.Module, str, WeightMask]],
        frozen: list[tuple[nn.Parameter, bool]],
        orders: list[tuple[nn.Module, list[str]]],
    ) -> None:
        self.model = model
        self._targets = targets
        self._masks = {name: mask for name, (_, _, mask) in targets.items()}
        self._frozen = frozen  # (parameter, requires_grad before add_masks)
        self._orders = orders  # (module, its parameter names in their original order)
        self._temperature = 1.0

    def __getitem__(self, name: str) -> WeightMask:
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __repr__(self) -> str:
        methods = sorted({m.method for m in self._masks.values()})
        n, numel = self.size(), sum(m.logits.numel() for m in self._masks.values())
        weights = f"{n} weights" if n == numel else f"{n} nonzero weights of {numel}"
        return f"MaskSet({len(self)} masks, {weights}, method={'/'.join(methods)})"

    @property
    def temperature(self) -> float:
        """Beta of sigmoid(beta * logits), set on every mask (hard concrete ignores it)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"temperature must be > 0, got {value}")
        self._temperature = float(value)
        for mask in self._masks.values():
            mask.temperature = float(value)

    def parameters(self) -> Iterator[nn.Parameter]:
        """The mask logits, the only tensors a mask optimizer should see."""
        return (mask.logits for mask in self._masks.values())

    def l0(self) -> Tensor:
        """Differentiable L0 penalty summed over masks (see :meth:`WeightMask.l0`)."""
        return torch.stack([mask.l0() for mask in self._masks.values()]).sum()

    def kept(self) -> dict[str, Tensor]:
        """Name -> boolean tensor of the subnetwork (logits > 0, among the nonzero weights)."""
        return {name: mask.kept() for name, mask in self._masks.items()}

    def size(self) -> int:
        """How many weights the masks can keep: the nonzero (existing) masked weights."""
        return sum(mask.size() for mask in self._masks.values())

    def kept_fraction(self) -> float:
        """Fraction of the nonzero (existing) masked weights in the subnetwork."""
        return sum(int(k.sum()) for k in self.kept().values()) / max(1, self.size())

    def stats(self) -> pd.DataFrame:
        """One row per masked weight: layer, size (its nonzero, existing weights), kept
        (count) and fraction (kept / size)."""
        import pandas as pd

        rows = []
        for name, mask in self._masks.items():
            k, size = mask.kept(), mask.size()
            kept = int(k.sum())
            frac = float(k.float().mean()) if mask.support is None else kept / max(1, size)
            rows.append({"layer": name, "size": size, "kept": kept, "fraction": frac})
        return pd.DataFrame(rows, columns=["layer", "size", "kept", "fraction"])

    def state_dict(self) -> dict[str, Tensor]:
        """Name -> a copy of the logits; the model's weights are not included."""
        return {name: mask.logits.detach().clone() for name, mask in self._masks.items()}

    def load_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Copy logits from ``state`` (as made by :meth:`state_dict`); names and shapes must match."""
        missing, unexpected = sorted(set(self) - set(state)), sorted(set(state) - set(self))
        if missing or unexpected:
            raise ValueError(f"mask state does not fit: missing {missing}, unexpected {unexpected}")
        for name, mask in self._masks.items():
            if tuple(state[name].shape) != tuple(mask.logits.shape):
                raise ValueError(
                    f"mask {name!r}: shape {tuple(state[name].shape)} in state, "
                    f"{tuple(mask.logits.shape)} in model"
                )
        with torch.no_grad():
            for name, mask in self._masks.items():
                mask.logits.copy_(state[name])

    def remove(self) -> None:
        """Take the masks off: original weights back (same tensors) and requires_grad restored."""
        for module, tname, _ in self._targets.values():
            parametrize.remove_parametrizations(module, tname, leave_parametrized=False)
        for param, flag in self._frozen:
            param.requires_grad_(flag)
        for module, order in self._orders:  # parameters back in their registration order
            for key in order:
                module._parameters[key] = module._parameters.pop(key)
        self._targets, self._masks, self._frozen, self._orders = {}, {}, [], []

    @contextmanager
    def disabled(self) -> Iterator[nn.Module]:
        """Inside: the unmasked model (yielded). The masks are back on exit."""
        with overridden(self, {name: (None, None) for name in self}):
            yield self.model


@contextmanager
def overridden(
    ms: MaskSet, overrides: dict[str, tuple[Tensor | None, Tensor | None]]
) -> Iterator[None]:
    """Inside: each named mask's weight ``W`` is seen as ``W * gate + addend`` (a ``None``
    is skipped) instead of its masked weight; the old overrides are back on exit.

    ``sclib.ablation.ablated`` and ``MaskSet.disabled`` are built on it;
    ``{name: (torch.zeros(()), None)}`` removes the masked weights altogether
    (``sclib.experiments.probe``).
    """
    before = {name: mask.override for name, mask in ms.items()}
    try:
        for name, override in overrides.items():
            ms[name].override = override
        yield
    finally:
        for name, override in before.items():
            ms[name].override = override


def add_masks(
    model: nn.Module, include: Include = None, init: float = 0.05, method: str = "continuous"
) -> MaskSet:
    """Put a trainable mask on every selected weight of ``model`` and freeze the model.

    Args:
        model: any nn.Module; its Linear, Conv1d/2d/3d, HF Conv1D (by class name) and
            MultiheadAttention input-projection weights can be masked. Biases, norms and
            embeddings (and weights tied to an embedding) never are.
        include: None (every maskable weight), module-name glob patterns matched with
            fnmatch (``["encoder.layer.2.*", "mlp.*"]``), or a predicate ``(name, module)``.
        init: constant initial logit (paper grid: 0.1, 0.05, 0, -0.05).
        method: "continuous" (Savarese et al. 2020) or "hard_concrete" (Louizos et al. 2018:
            ``logits`` hold log alpha, a stochastic gate in training, ``logits > 0`` in eval).

    Returns:
        The MaskSet. Every model parameter has requires_grad False until ``remove()``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    if method not in METHODS:
        raise ValueError(f"unknown mask method {method!r}; choose one of: {', '.join(METHODS)}")
    if isinstance(init, bool) or not hasattr(init, "__float__") or not math.isfinite(init):
        raise ValueError(f"init (initial logit) must be a finite number, got {init!r}")
    if not (include is None or callable(include) or isinstance(include, str)):
        if not isinstance(include, Sequence | set | frozenset) or not all(
            isinstance(p, str) for p in include
        ):
            raise ValueError(
                f"include must be None, a glob pattern, a list of patterns or a predicate, "
                f"got {include!r}"
            )
        if not include:
            raise ValueError("include [] selects nothing; pass None to mask every weight")
    return _attach(model, _select(model, include), init, method)


def _attach(
    model: nn.Module, chosen: list[tuple[str, nn.Module, str]], init: float, method: str
) -> MaskSet:
    for name, module, tname in chosen:
        if parametrize.is_parametrized(module, tname):
            raise ValueError(
                f"{name or type(model).__name__}.{tname} is already parametrized "
                "(masked twice?); call remove() on the first MaskSet"
            )
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for param, _ in frozen:
        param.requires_grad_(False)
    modules = {id(module): module for _, module, _ in chosen}.values()
    orders = [(module, list(module._parameters)) for module in modules]
    targets = {}
    for name, module, tname in chosen:
        weight = getattr(module, tname)
        mask = WeightMask(weight.detach(), init, method, _fan_in(module, weight))
        mask.train(module.training)
        parametrize.register_parametrization(module, tname, mask, unsafe=True)
        targets[f"{name}.{tname}" if name else tname] = (module, tname, mask)
    return MaskSet(model, targets, frozen, orders)


def magnitude_masks(model: nn.Module, fraction: float, include: Include = None) -> MaskSet:
    """Magnitude-pruning baseline: keep the ``fraction`` largest-|W| weights of each layer.

    The masks are fixed (logits +1 kept, -1 pruned, no gradient; binary in training mode
    too), so ``sclib.ablation.ablated``, :func:`iou` and ``stats()`` treat them like trained
    ones.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    ms = _attach(model, _select(model, include), -1.0, "fixed")
    with torch.no_grad():
        for module, tname, mask in ms._targets.values():
            weight = module.parametrizations[tname].original
            k = round(fraction * weight.numel())
            mask.logits.view(-1)[weight.abs().flatten().topk(k).indices] = 1.0
            mask.logits.requires_grad_(False)
    return ms


def iou(kept_a: Mapping[str, Tensor], kept_b: Mapping[str, Tensor]) -> dict[str, float]:
    """Per-layer intersection over union |A & B| / |A | B| of two subnetworks.

    Args:
        kept_a, kept_b: name -> boolean tensor, as from ``MaskSet.kept()``; same names and shapes.

    Returns:
        Name -> IoU; nan for a layer where both subnetworks are empty.

    >>> a = {"w": torch.tensor([True, True, False, False])}
    >>> b = {"w": torch.tensor([True, False, True, False])}
    >>> iou(a, b)
    {'w': 0.3333333333333333}
    """
    if set(kept_a) != set(kept_b):
        raise ValueError(f"layers differ: {sorted(set(kept_a) ^ set(kept_b))} are in only one")
    out = {}
    for name, a in kept_a.items():
        b = kept_b[name]
        if a.shape != b.shape:
            raise ValueError(f"layer {name!r}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
        a, b = a.bool(), b.bool()
        union = int((a | b).sum())
        out[name] = int((a & b).sum()) / union if union else math.nan
    return out
