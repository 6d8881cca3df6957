"""`refuse_discarded`: the loud failure of `model.eval()`, `model.train()`, `load_state_dict`, ...
written as a statement, whose new module would be thrown away (modules are immutable)."""
import dis
import sys

_DISCARDS = {}


def refuse_discarded(method, fix, depth=1):
    """Raise if the call of `method` made `depth` frames above the caller throws its result
    away: as a statement (POP_TOP) or as an interactive line whose value is only displayed."""
    frame = sys._getframe(depth + 1)
    key = (frame.f_code, frame.f_lasti)
    discarded = _DISCARDS.get(key)
    if discarded is None:
        discarded = _DISCARDS[key] = _next_instruction_discards(*key)
    if discarded:
        raise RuntimeError(
            f"{method}() returns a new module (modules are immutable) and leaves the one it is "
            f"called on unchanged, so calling it as a statement does nothing. Write `{fix}`.")


def _next_instruction_discards(code, lasti):
    for ins in dis.get_instructions(code):
        if ins.offset > lasti:
            return ins.opname in ("POP_TOP", "PRINT_EXPR") or (
                ins.opname == "CALL_INTRINSIC_1" and ins.argrepr == "INTRINSIC_PRINT")
    return False
