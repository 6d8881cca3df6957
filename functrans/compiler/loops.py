"""Loop primitives run on values (outside jit: `lax.scan`, or a `while_loop` past its first
iterations, called in a script, or the loops a derivative rule binds under an eager `grad`)
as compiled code, as JAX runs them: the loop
equation alone becomes a program, compiled once per body, input types and parameters and
cached on the body, so its iterations run the body's generated code rather than evaluating
its jaxpr equation by equation. Inside `disable_jit`, and while NaN/infinity checks are on
(they name the operation of the body that failed), the loop's own `impl` evaluates it."""
from __future__ import annotations

from ..config import config
from ..core import get_aval, jit_disabled
from ..higher_order.control_flow.scan import scan_p
from ..higher_order.control_flow.while_loop import while_p
from ..interpreters.partial_eval import trace_to_jaxpr
from .executable import compile_jaxpr
from .jit_call import as_declared, device_of_args


def compiled_impl(prim, body_param="jaxpr"):
    """An `impl` for the loop primitive `prim` running it compiled (else by its own `impl`);
    `body_param` names the param holding its body (a ClosedJaxpr, whose cache keeps the
    program)."""
    interpret = prim.impl

    def impl(xp, *args, **params):
        if jit_disabled() or config.debug_nans or config.debug_infs:
            return interpret(xp, *args, **params)
        avals = tuple(get_aval(a) for a in args)
        rest = tuple(sorted((k, v) for k, v in params.items() if k != body_param))
        key = ("eager loop", prim.name, avals, rest)
        cache = params[body_param].cache
        program = cache.get(key)
        if program is None:
            program, _ = trace_to_jaxpr(lambda *xs: prim.bind(*xs, **params), avals,
                                        name=prim.name)
            cache[key] = program
        device = device_of_args(args)
        outs = compile_jaxpr(program, device, prim.name)(*args)
        return [as_declared(device, o, a) for o, a in zip(outs, program.out_avals)]
    return impl


scan_p.impl = compiled_impl(scan_p)
while_p.impl = compiled_impl(while_p, "body_jaxpr")
