"""Several cores inside one process: compiled programs on the host split their large kernels
into independent pieces that worker threads run while NumPy and the BLAS release the GIL:
matrix products by rows (or by their first batch axis), or two independent products of
similar size (a layer's backward pass: its input's and its weight's gradients) at once, each
whole on a thread of its own (the one read later started on a worker and waited for only
where it is read, so that the caller goes on meanwhile), long elementwise chains by rows,
reductions that keep their first axis by rows, and kernels declaring a batch axis
(`Primitive.split_rows`: convolutions' shifted sums, windowed max/sum, their gathers and
scatters, special functions) by rows. Small kernels stay whole: waking a worker costs tens
of microseconds on a busy machine.

The thread policy (`program_threads()`, read when a program with such kernels starts):
- `ft.config.update("cpu_threads", n)` (or FUNCTRANS_CPU_THREADS=n) asks for n threads in
  all, the BLAS's included; 1 turns splitting off. The default, "auto", takes the cores
  this process may run on (its CPU affinity), capped by the user's thread settings:
  OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS (the smallest one set), and the
  number of threads NumPy's BLAS is allowed at that moment (a
  `threadpoolctl.threadpool_limits` block lowers it).
- While such a program runs, functrans's threads replace the BLAS's own: the BLAS is set to
  one thread for the program's duration (and restored after), so BLAS threads spinning
  between small products never compete with functrans's. Large products too are split over
  functrans's threads, not the BLAS's: with both cores free the BLAS's threads split one
  product a little better (512x512x128, float32: 1.9x one thread, against 1.7x), but when
  another process takes a core they wait on each other for whole time slices (a 0.7 ms
  product took 16 ms), where functrans's caller simply runs the pieces no worker took.
  `threadpoolctl` (a dependency, pure Python) reaches the BLAS; where it cannot (not
  importable, or a BLAS it does not know), matrix products are left to the BLAS's own
  threads and only the other kernels are split.
- A program started while another thread's program holds the workers runs on one thread.
- The environment is read once, at the first such program (as OpenMP and the BLAS read it
  when they load); `cpu_threads` may change at any time.
Workers wait on locks (they never spin) and are created on first use.
"""
from __future__ import annotations

import os
import queue as queue_module
import threading

from ..config import config

_ENV_LIMITS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _env_limit():
    """The smallest thread count the environment sets for OpenMP or the BLAS, or None."""
    found = []
    for var in _ENV_LIMITS:
        raw = os.environ.get(var, "").split(",")[0].strip()
        if raw.isdigit() and int(raw) > 0:
            found.append(int(raw))
    return min(found) if found else None


_policy = []        # the policy's thread count, once computed


def policy_threads():
    """The threads functrans may use by its settings and the environment (before the BLAS's
    current limit is consulted). The environment is read once, as OpenMP and the BLAS read
    it when they load."""
    if not _policy:
        setting = config.cpu_threads
        if setting != "auto":
            n = setting
        else:
            n, limit = _available_cores(), _env_limit()
            n = n if limit is None else max(1, min(n, limit))
        _policy.append(n)
    return _policy[0]


def _on_config(name, value):
    if name == "cpu_threads":
        _policy.clear()


config.on_update(_on_config)


class _Blas:
    """NumPy's BLAS thread controls, through threadpoolctl (None where it cannot reach them)."""

    def __init__(self):
        self.libs = None

    def controllers(self):
        if self.libs is None:
            try:
                import threadpoolctl
                libs = threadpoolctl.ThreadpoolController().select(user_api="blas")
                self.libs = list(libs.lib_controllers)
            except Exception:      # not installed, or no BLAS it knows
                self.libs = []
            # NumPy's own BLAS first: its thread count is the one the user limits
            self.libs.sort(key=lambda c: "numpy" not in str(getattr(c, "filepath", "")))
        return self.libs


_blas = _Blas()


class _Run:
    """One kernel's pieces being run: threads take the next piece as they finish one;
    `active` counts pieces taken and not finished; `result` is the last piece's."""
    __slots__ = ("fn", "pieces", "active", "error", "result")

    def __init__(self, fn, pieces):
        self.fn, self.pieces, self.active, self.error = fn, iter(pieces), 0, None
        self.result = None


def _work(run, cond):
    """Take and run pieces of `run` until none is left."""
    fn = run.fn
    while True:
        with cond:
            piece = next(run.pieces, None)
            if piece is None:
                return
            run.active += 1
        try:
            run.result = fn(*piece)
        except BaseException as e:           # re-raised in the calling thread
            run.error = run.error or e
        with cond:
            run.active -= 1
            if not run.active:
                cond.notify_all()


class _Pool:
    """Runs the pieces of one kernel on `size` threads (the caller's one of them). Threads
    take the next piece as they finish one, and the caller waits only for pieces already
    taken: a worker the system has not yet scheduled (on a busy machine) holds up nothing,
    it finds no piece left when it wakes."""

    def __init__(self):
        self.size = 1               # threads the running program may use
        self.blas_split = False     # matrix products may be split (the BLAS is held at 1)
        self.busy = threading.Lock()
        self.cond = threading.Condition(threading.Lock())
        self.queues = []            # one per worker thread: the runs to help with

    def _worker(self, queue):
        cond = self.cond
        while True:
            _work(queue.get(), cond)

    def run(self, fn, pieces):
        """`fn(*piece)` for every piece, spread over the threads; returns when all are done."""
        n = min(self.size, len(pieces))
        if n <= 1 or not self.busy.acquire(blocking=False):
            for piece in pieces:
                fn(*piece)
            return
        try:
            self._start_workers(n - 1)
            run = _Run(fn, pieces)
            for q in self.queues[:n - 1]:
                q.put(run)
            self.finish(run)
        finally:
            self.busy.release()

    def _start_workers(self, n):
        while len(self.queues) < n:
            q = queue_module.SimpleQueue()
            threading.Thread(target=self._worker, args=(q,), name="functrans-worker",
                             daemon=True).start()
            self.queues.append(q)

    def start(self, fn, args, here=False):
        """Hand `fn(*args)` to a worker (the first: runs started one after another run in
        that order) and return at once; `finish` the returned run before its results are
        read. Without workers (or `here`) it runs here and now."""
        run = _Run(fn, [args])
        if here or self.size <= 1:
            _work(run, self.cond)
        else:
            self._start_workers(1)
            self.queues[0].put(run)
        return run

    def finish(self, run):
        """Wait for a run from `start` (on any thread) and return its result; run it here if
        no worker has taken it yet (a worker the system has not scheduled holds up
        nothing)."""
        _work(run, self.cond)
        with self.cond:
            while run.active:
                self.cond.wait()
        if run.error is not None:
            raise run.error
        return run.result


pool = _Pool()
_entered = threading.local()


def _reset_after_fork():
    global pool, _program
    pool, _program = _Pool(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def program_threads():
    """The threads a program starting now may use: the policy's count, capped by the
    BLAS's current limit (where threadpoolctl can read it)."""
    n = policy_threads()
    libs = _blas.controllers() if n > 1 else ()
    if libs:
        n = max(1, min(n, libs[0].get_num_threads()))
    return n


_program = threading.Lock()      # held by the program that owns the workers


def enter():
    """Start a program with split kernels: choose its threads and hold the BLAS at one
    thread. Returns what `leave` needs to undo it (None: nothing to undo)."""
    depth = getattr(_entered, "depth", 0)
    _entered.depth = depth + 1
    if depth or not _program.acquire(blocking=False):   # nested, or another thread's runs
        return None
    n = program_threads()
    libs = _blas.controllers()
    saved = [(lib, count) for lib, count in ((lib, lib.get_num_threads()) for lib in libs)
             if count != 1]
    if n <= 1 and not saved:
        _program.release()
        return None
    for lib, _ in saved:        # (on one thread too: `cpu_threads` 1 means one in all)
        lib.set_num_threads(1)
    pool.size, pool.blas_split = n, bool(libs)
    return saved


def leave(saved):
    """Undo `enter` (given what it returned)."""
    _entered.depth -= 1
    if saved is None:
        return
    pool.size, pool.blas_split = 1, False
    for lib, count in saved:
        lib.set_num_threads(count)
    _program.release()


# ------------------------------------------------------------------ the split kernels
def threads():
    """The threads the running program's split kernels use."""
    return pool.size


# pieces per thread of a split kernel (more pieces balance threads of unequal speed, but each
# is a hand-over between threads: measured on a busy machine, one per thread lost least)
PIECES_PER_THREAD = 1
PIECE_MIN_MACS = 1 << 19        # a matrix product's pieces are at least this large


def _bounds(n, parts):
    step = -(-n // max(1, min(parts, n)))
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def product(fn, a, b, out):
    """`fn(a, b, out=out)` for `fn` np.dot (2-d `a`) or np.matmul (stacks of matrices of
    equal batch shape), split along the first axis of `out` (rows, or the first batch axis)
    over the threads when the BLAS is held at one thread. Returns `out`."""
    n = pool.size
    if n <= 1 or not pool.blas_split:
        fn(a, b, out=out)
        return out
    split_b = b.ndim > 2
    parts = min(n * PIECES_PER_THREAD, max(n, out.size * a.shape[-1] // PIECE_MIN_MACS))
    pool.run(whole_product, [(fn, a[lo:hi], b[lo:hi] if split_b else b, out[lo:hi])
                             for lo, hi in _bounds(out.shape[0], parts)])
    return out


def whole_product(fn, a, b, out):
    """`fn(a, b, out=out)`, on this thread."""
    fn(a, b, out=out)


def start_product(fn, a, b, out):
    """`fn(a, b, out=out)` (as `product` takes it) started on a worker, whole, while the
    caller goes on (a weight's gradient, needed only later); `finish` waits for it. On one
    thread it runs here; where the BLAS cannot be held at one thread, here on the BLAS's
    own threads."""
    here = not pool.blas_split
    return pool.start(product if here else whole_product, (fn, a, b, out), here)


def start(fn):
    """`fn()` started on a worker after the runs started before it (a weight's gradient's
    sum over images, after its product); `finish` returns its result."""
    return pool.start(fn, ())


def finish(run):
    """Wait for a run from `start_product` or `start` and return its result."""
    return pool.finish(run)


def chunks(fn, rows, block):
    """`fn(lo, hi)` over row ranges covering `rows`, of about `block` rows each (a block of
    a long chain stays in the cache from one member to the next) and, on several threads,
    `PIECES_PER_THREAD` per thread at least, spread over the threads."""
    n = pool.size
    if block >= rows and n <= 1:
        fn(0, rows)
        return
    least = n * PIECES_PER_THREAD if n > 1 else 1
    pieces = _bounds(rows, max(least, -(-rows // block)))
    if n <= 1:
        for lo, hi in pieces:
            fn(lo, hi)
    else:
        pool.run(fn, pieces)
