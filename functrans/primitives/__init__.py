"""First-order primitives, one module per family (elementwise, reductions, shape_ops, dot,
conv, windowed, indexing, sorting, linalg, transfer): each primitive is defined once, with its
kernel, shape rule, derivative rules, batching rule and what the compiler needs to know, side
by side (see CONTRIBUTING.md). They know the core and nothing above it: the interpreters
that transform them sit above, and so do the higher-order primitives (`functrans.higher_order`)
and the public namespace `ft.lax`.
"""
