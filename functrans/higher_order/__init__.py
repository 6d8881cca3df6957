"""Higher-order primitives: primitives that carry jaxprs and whose rules transform them with
the interpreters below (structured control flow, collectives over named axes, rematerialization,
custom derivatives)."""
