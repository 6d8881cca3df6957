"""Loop primitives run on values (outside jit: `lax.scan`, or a `while_loop` past its first
iterations, called in a script, or the loops a derivative rule binds under an eager `grad`)
as compiled code, as JAX runs them: the loop equation alone becomes a program, compiled once
per body, input types and parameters and cached on the body, so its iterations run the
body's generated code rather than evaluating its jaxpr equation by equation. The loop
primitives declare the param holding their body (`compiled_body`) and consult the runner
registered here (`control_flow.common.register_loop_runner`); inside `disable_jit`, and
while NaN/infinity checks are on, their own `impl` evaluates them."""
from __future__ import annotations

from ..core import get_aval
from ..higher_order.control_flow.common import register_loop_runner
from ..interpreters.partial_eval import trace_to_jaxpr
from .executable import compile_jaxpr
from .jit_call import as_declared, device_of_args


def run_compiled(prim, args, params):
    """The loop primitive `prim` run on the values `args` by its compiled program."""
    avals = tuple(get_aval(a) for a in args)
    body_param = prim.compiled_body
    rest = tuple(sorted((k, v) for k, v in params.items() if k != body_param))
    key = ("eager loop", prim.name, avals, rest)
    cache = params[body_param].cache
    program = cache.get(key)
    if program is None:
        program, _ = trace_to_jaxpr(lambda *xs: prim.bind(*xs, **params), avals,
                                    name=prim.name)
        program = cache.setdefault(key, program)
    device = device_of_args(args)
    outs = compile_jaxpr(program, device, prim.name)(*args)
    return [as_declared(device, o, a) for o, a in zip(outs, program.out_avals)]


register_loop_runner(run_compiled)
